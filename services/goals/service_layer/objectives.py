"""Use cases for objectives and key results.

Who may write them: ``services/goals/domain/permissions.py``. Deleting one takes the graph
lock (see ``service_layer/graph.py``), as does a change of a key result's unit, which must
stay the unit of every sum the key result feeds or makes.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.goals.domain.access import Principal
from services.goals.domain.errors import InvalidInput
from services.goals.domain.goals import (
    Aggregation,
    KeyResult,
    Measure,
    Objective,
    ObjectiveKind,
    ObjectiveStatus,
)
from services.goals.domain.graph import ItemType
from services.goals.domain.permissions import require_objective_writer
from services.goals.service_layer.graph import check_sums_after_change, remove_edges_touching
from services.goals.service_layer.lookups import (
    audit_department,
    check_version,
    load_key_result,
    load_objective,
)
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.contract import EventType


def emit_objective(uow: UnitOfWork, actor: Principal, event_type: EventType,
                   objective: Objective, before: dict[str, object] | None) -> None:
    uow.record_change(actor=actor, event_type=event_type, item_type=ItemType.OBJECTIVE.value,
                      item_id=objective.id, key=objective.id,
                      department=audit_department(objective.departments), before=before,
                      after=objective.state(),
                      deleted=event_type is EventType.OBJECTIVE_DELETED)


def emit_key_result(uow: UnitOfWork, actor: Principal, event_type: EventType,
                    key_result: KeyResult, objective: Objective,
                    before: dict[str, object] | None) -> None:
    uow.record_change(actor=actor, event_type=event_type, item_type=ItemType.KEY_RESULT.value,
                      item_id=key_result.id, key=objective.id,
                      department=audit_department(objective.departments), before=before,
                      after=key_result.state(),
                      deleted=event_type is EventType.KEY_RESULT_DELETED)


def create_objective(uow: UnitOfWork, actor: Principal, *, cycle: str, kind: ObjectiveKind,
                     departments: list[str], owner: str, title: str, description: str = ""
                     ) -> Objective:
    objective = Objective.new(cycle=cycle, kind=kind, departments=departments, owner=owner,
                              title=title, description=description)
    require_objective_writer(actor, objective, "create objectives")
    with uow:
        if uow.cycles.get(cycle) is None:
            raise InvalidInput(f"cycle {cycle!r} does not exist", "cycle")
        for key in objective.departments:
            if uow.departments.get(key) is None:
                raise InvalidInput(f"department {key!r} does not exist", "departments")
        uow.objectives.add(objective)
        emit_objective(uow, actor, EventType.OBJECTIVE_CREATED, objective, None)
        uow.commit()
    return objective


@dataclass(frozen=True)
class ObjectiveChanges:
    title: str | None = None
    description: str | None = None
    owner: str | None = None
    status: ObjectiveStatus | None = None


def change_objective(uow: UnitOfWork, actor: Principal, objective_id: str,
                     changes: ObjectiveChanges, expected_version: int | None) -> Objective:
    with uow:
        objective = load_objective(uow, objective_id, for_update=True)
        require_objective_writer(actor, objective, "change objectives")
        check_version(objective.version, expected_version, f"objective {objective_id!r}")
        before = objective.state()
        objective.change(title=changes.title, description=changes.description,
                         owner=changes.owner, status=changes.status)
        uow.objectives.save(objective)
        emit_objective(uow, actor, EventType.OBJECTIVE_UPDATED, objective, before)
        uow.commit()
    return objective


def delete_objective(uow: UnitOfWork, actor: Principal, objective_id: str,
                     expected_version: int | None) -> None:
    """Delete an objective with its key results, and the contributions and links touching them
    (whoever made those: an edge cannot outlive one of its ends).

    Each removal emits its own event (``contribution.removed``, ``link.removed``,
    ``key_result.deleted``), then ``objective.deleted``, all in one transaction.
    """
    with uow:
        uow.contributions.lock_graph()
        objective = load_objective(uow, objective_id, for_update=True)
        require_objective_writer(actor, objective, "delete objectives")
        check_version(objective.version, expected_version, f"objective {objective_id!r}")
        key_results = uow.key_results.of_objective(objective_id)
        remove_edges_touching(uow, actor, [objective_id] + [kr.id for kr in key_results])
        for key_result in key_results:
            uow.key_results.remove(key_result.id)
            emit_key_result(uow, actor, EventType.KEY_RESULT_DELETED, key_result, objective,
                            key_result.state())
        uow.objectives.remove(objective_id)
        emit_objective(uow, actor, EventType.OBJECTIVE_DELETED, objective, objective.state())
        uow.commit()


@dataclass(frozen=True)
class KeyResultDefinition:
    title: str
    measure: Measure
    start: float | None = None
    target: float | None = None
    unit: str | None = None
    weight: float = 1.0
    aggregation: Aggregation = Aggregation.CHECK_INS


def add_key_result(uow: UnitOfWork, actor: Principal, objective_id: str,
                   definition: KeyResultDefinition) -> KeyResult:
    with uow:
        objective = load_objective(uow, objective_id, for_update=True)
        require_objective_writer(actor, objective, "add key results")
        key_result = KeyResult.new(objective_id=objective_id, title=definition.title,
                                   measure=definition.measure, start=definition.start,
                                   target=definition.target, unit=definition.unit,
                                   weight=definition.weight, aggregation=definition.aggregation)
        uow.key_results.add(key_result)
        emit_key_result(uow, actor, EventType.KEY_RESULT_CREATED, key_result, objective, None)
        uow.commit()
    return key_result


@dataclass(frozen=True)
class KeyResultChanges:
    title: str | None = None
    start: float | None = None
    target: float | None = None
    unit: str | None = None
    weight: float | None = None


def change_key_result(uow: UnitOfWork, actor: Principal, key_result_id: str,
                      changes: KeyResultChanges, expected_version: int | None) -> KeyResult:
    with uow:
        if changes.unit is not None:
            uow.contributions.lock_graph()
        key_result = load_key_result(uow, key_result_id, for_update=True)
        objective = load_objective(uow, key_result.objective_id)
        require_objective_writer(actor, objective, "change key results")
        check_version(key_result.version, expected_version, f"key result {key_result_id!r}")
        before = key_result.state()
        key_result.change(title=changes.title, start=changes.start, target=changes.target,
                          unit=changes.unit, weight=changes.weight)
        if key_result.unit != before["unit"]:
            check_sums_after_change(uow, key_result)
        uow.key_results.save(key_result)
        emit_key_result(uow, actor, EventType.KEY_RESULT_UPDATED, key_result, objective, before)
        uow.commit()
    return key_result


def delete_key_result(uow: UnitOfWork, actor: Principal, key_result_id: str,
                      expected_version: int | None) -> None:
    """Delete a key result with the contributions and links touching it (as an objective's
    deletion does)."""
    with uow:
        uow.contributions.lock_graph()
        key_result = load_key_result(uow, key_result_id, for_update=True)
        objective = load_objective(uow, key_result.objective_id)
        require_objective_writer(actor, objective, "delete key results")
        check_version(key_result.version, expected_version, f"key result {key_result_id!r}")
        remove_edges_touching(uow, actor, [key_result_id])
        uow.key_results.remove(key_result_id)
        emit_key_result(uow, actor, EventType.KEY_RESULT_DELETED, key_result, objective,
                        key_result.state())
        uow.commit()
