"""Loading items and checking their versions: shared by every goals use case."""

from __future__ import annotations

from services.goals.domain.errors import NotFound, StaleVersion
from services.goals.domain.goals import KeyResult, Objective
from services.goals.service_layer.unit_of_work import UnitOfWork


def audit_department(departments: list[str]) -> str:
    """The department an audit entry is filed under ("marketing+sales" for collective), from
    an objective's (sorted) departments."""
    return "+".join(departments)


def check_version(current: int, expected: int | None, what: str) -> None:
    if expected is not None and expected != current:
        raise StaleVersion(f"{what} is at version {current}, not {expected}")


def load_objective(uow: UnitOfWork, objective_id: str, *, for_update: bool = False
                   ) -> Objective:
    objective = uow.objectives.get(objective_id, for_update=for_update)
    if objective is None:
        raise NotFound(f"objective {objective_id!r} does not exist")
    return objective


def load_key_result(uow: UnitOfWork, key_result_id: str, *, for_update: bool = False
                    ) -> KeyResult:
    key_result = uow.key_results.get(key_result_id, for_update=for_update)
    if key_result is None:
        raise NotFound(f"key result {key_result_id!r} does not exist")
    return key_result
