"""Goal items with sensible defaults, so each test spells out only what it is about."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.metrics.domain.goal_items import (
    Aggregation,
    ContributionState,
    CycleState,
    ItemType,
    KeyResultState,
    Measure,
    ObjectiveKind,
    ObjectiveState,
)
from services.metrics.domain.rollup import RollupGraph
from services.metrics.domain.status import StatusThresholds
from shared.clock import FakeClock

NOW = datetime(2026, 11, 15, tzinfo=UTC)
Q4 = CycleState(key="2026-Q4", version=1, starts_on=date(2026, 10, 1),
                ends_on=date(2026, 12, 31))


def graph_at(now: datetime | FakeClock = NOW,
             thresholds: StatusThresholds | None = None) -> RollupGraph:
    clock = now if isinstance(now, FakeClock) else FakeClock(now)
    return RollupGraph(thresholds=thresholds, clock=clock)


def objective(objective_id: str, version: int = 1, cycle: str = Q4.key,
              collective: bool = False) -> ObjectiveState:
    if collective:
        return ObjectiveState(objective_id, version, cycle, ObjectiveKind.COLLECTIVE,
                              ("marketing", "sales"))
    return ObjectiveState(objective_id, version, cycle, ObjectiveKind.DEPARTMENT, ("sales",))


def key_result(key_result_id: str, objective_id: str, *, version: int = 1,
               start: float = 0.0, target: float = 100.0, current: float | None = None,
               weight: float = 1.0, confidence: float | None = None,
               measure: Measure | None = None, sums: bool = False) -> KeyResultState:
    if measure is None:
        measure = Measure.INCREASE if target > start else Measure.DECREASE
    return KeyResultState(key_result_id, version, objective_id, measure, start, target,
                          weight=weight, current=current, confidence=confidence,
                          aggregation=Aggregation.SUM if sums else Aggregation.CHECK_INS)


def boolean_key_result(key_result_id: str, objective_id: str, done: bool,
                       version: int = 1) -> KeyResultState:
    return KeyResultState(key_result_id, version, objective_id, Measure.BOOLEAN, 0.0, 1.0,
                          current=1.0 if done else 0.0)


def objective_into_objective(contribution_id: str, child: str, parent: str,
                             weight: float = 1.0, version: int = 1) -> ContributionState:
    return ContributionState(contribution_id, version, ItemType.OBJECTIVE, child,
                             ItemType.OBJECTIVE, parent, weight)


def key_result_into_objective(contribution_id: str, child: str, parent: str,
                              weight: float = 1.0, version: int = 1) -> ContributionState:
    return ContributionState(contribution_id, version, ItemType.KEY_RESULT, child,
                             ItemType.OBJECTIVE, parent, weight)


def key_result_into_key_result(contribution_id: str, child: str, parent: str,
                               weight: float = 1.0, version: int = 1) -> ContributionState:
    return ContributionState(contribution_id, version, ItemType.KEY_RESULT, child,
                             ItemType.KEY_RESULT, parent, weight)


GoalItem = ObjectiveState | KeyResultState | ContributionState | CycleState


def apply(graph: RollupGraph, *items: GoalItem) -> None:
    for item in items:
        if isinstance(item, ObjectiveState):
            graph.upsert_objective(item)
        elif isinstance(item, KeyResultState):
            graph.upsert_key_result(item)
        elif isinstance(item, ContributionState):
            graph.add_contribution(item)
        else:
            graph.upsert_cycle(item)
