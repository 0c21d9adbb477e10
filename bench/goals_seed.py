"""A goals database of realistic size for the benchmarks that post check-ins.

:func:`seed_key_results` writes a cycle (unless it exists), department objectives of ten
key results each and their events through the goals unit of work, as the API would (the
``okr.objective.created`` and ``okr.key_result.created`` events land in the outbox with
their audit rows), but a thousand items a transaction: 10,000 key results took about
half a minute on the shared machine, where 11,000 HTTP requests take minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from services.goals.domain.access import Principal, Role
from services.goals.domain.goals import KeyResult, Measure, Objective, ObjectiveKind
from services.goals.service_layer.objectives import emit_key_result, emit_objective
from services.goals.service_layer.reference_data import create_cycle
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.contract import EventType

KEY_RESULTS_PER_OBJECTIVE = 10
ITEMS_PER_TRANSACTION = 1_000
SEEDER = Principal("bench seeder", Role.ADMIN)


def seed_key_results(make: Callable[[], UnitOfWork], count: int, *,
                     cycle: str = "2026-Q4", department: str = "sales",
                     target: float = 1_000_000.0) -> list[str]:
    """``count`` key results (``increase`` from 0 to ``target``) in ``department``'s
    objectives of ``cycle``; returns their ids in creation order.

    ``make`` gives a fresh unit of work (``Goals.unit_of_work``).
    """
    starts_on, ends_on = date(2026, 10, 1), date(2026, 12, 31)
    with make() as uow:
        exists = uow.cycles.get(cycle) is not None
    if not exists:
        create_cycle(make(), SEEDER, cycle, starts_on, ends_on)
    ids: list[str] = []
    while len(ids) < count:
        with make() as uow:
            written = 0
            while len(ids) < count and written < ITEMS_PER_TRANSACTION:
                objective = Objective.new(
                    cycle=cycle, kind=ObjectiveKind.DEPARTMENT, departments=[department],
                    owner="bench", title=f"bench objective {len(ids) // KEY_RESULTS_PER_OBJECTIVE}")
                uow.objectives.add(objective)
                emit_objective(uow, SEEDER, EventType.OBJECTIVE_CREATED, objective, None)
                for _ in range(min(KEY_RESULTS_PER_OBJECTIVE, count - len(ids))):
                    key_result = KeyResult.new(
                        objective_id=objective.id, title=f"bench key result {len(ids)}",
                        measure=Measure.INCREASE, start=0.0, target=target, unit="EUR")
                    uow.key_results.add(key_result)
                    emit_key_result(uow, SEEDER, EventType.KEY_RESULT_CREATED, key_result,
                                    objective, None)
                    ids.append(key_result.id)
                    written += 1
            uow.commit()
    return ids

