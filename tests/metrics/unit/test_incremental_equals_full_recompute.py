"""Property: after any sequence of goal events, the incremental roll-up equals a recomputation
from scratch, and each operation reports exactly the objectives whose figures it changed."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

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
from services.metrics.domain.recompute import full_recompute
from services.metrics.domain.rollup import Changes, RollupGraph
from services.metrics.domain.snapshot import RollupSnapshot
from tests.metrics.unit.builders import graph_at

OBJECTIVES = [f"o{n}" for n in range(4)]
KEY_RESULTS = [f"k{n}" for n in range(5)]
CONTRIBUTIONS = [f"c{n}" for n in range(6)]
CYCLES = ["q1", "q2"]

# Versions are placeholders: ``run`` turns them into "the step number minus a lag", so most
# events are newer than what is held while some arrive late or twice.
versions = st.just(0)
lags = st.sampled_from([0, 0, 0, 0, 1, 2, 5])
weights = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0])
confidences = st.none() | st.sampled_from([0.0, 0.2, 0.35, 0.5, 0.8, 1.0])
values = st.sampled_from([-50.0, 0.0, 10.0, 33.3, 50.0, 99.9, 100.0, 150.0, 1e6])

cycles = st.builds(
    lambda key, version, start, days: CycleState(key, version, date(2026, 10, 1)
                                                 + timedelta(days=start),
                                                 date(2026, 10, 1)
                                                 + timedelta(days=start + days)),
    st.sampled_from(CYCLES), versions, st.integers(-60, 60), st.integers(0, 120))

objectives = st.builds(
    lambda objective_id, version, cycle, collective: ObjectiveState(
        objective_id, version, cycle,
        ObjectiveKind.COLLECTIVE if collective else ObjectiveKind.DEPARTMENT,
        ("marketing", "sales") if collective else ("sales",)),
    st.sampled_from(OBJECTIVES), versions, st.sampled_from(CYCLES), st.booleans())


@st.composite
def key_results(draw: st.DrawFn) -> KeyResultState:
    measure = draw(st.sampled_from(Measure))
    if measure is Measure.BOOLEAN:
        start, target, current = 0.0, 1.0, draw(st.none() | st.sampled_from([0.0, 1.0]))
        aggregation = Aggregation.CHECK_INS
    else:
        start, target = draw(st.sampled_from([(0.0, 100.0), (20.0, 120.0), (100.0, 40.0),
                                              (0.0, 1e6)]))
        current = draw(st.none() | values)
        aggregation = draw(st.sampled_from(Aggregation))
    return KeyResultState(draw(st.sampled_from(KEY_RESULTS)), draw(versions),
                          draw(st.sampled_from(OBJECTIVES)), measure, start, target,
                          weight=draw(weights), aggregation=aggregation, current=current,
                          confidence=draw(confidences))


@st.composite
def contributions(draw: st.DrawFn) -> ContributionState:
    child_type = draw(st.sampled_from(ItemType))
    parent_type = (ItemType.OBJECTIVE if child_type is ItemType.OBJECTIVE
                   else draw(st.sampled_from(ItemType)))

    def pool(item_type: ItemType) -> list[str]:
        return OBJECTIVES if item_type is ItemType.OBJECTIVE else KEY_RESULTS

    return ContributionState(draw(st.sampled_from(CONTRIBUTIONS)), draw(versions), child_type,
                             draw(st.sampled_from(pool(child_type))), parent_type,
                             draw(st.sampled_from(pool(parent_type))), draw(weights))


Operation = tuple[str, object, int]  # (name, argument, lag of its version)

operations: st.SearchStrategy[Operation] = st.one_of(
    st.tuples(st.just("upsert_cycle"), cycles, lags),
    st.tuples(st.just("upsert_objective"), objectives, lags),
    st.tuples(st.just("remove_objective"), st.sampled_from(OBJECTIVES), lags),
    st.tuples(st.just("upsert_key_result"), key_results(), lags),
    st.tuples(st.just("upsert_key_result"), key_results(), lags),
    st.tuples(st.just("remove_key_result"), st.sampled_from(KEY_RESULTS), lags),
    st.tuples(st.just("record_check_in"),
              st.tuples(st.sampled_from(KEY_RESULTS), values, confidences), lags),
    st.tuples(st.just("add_contribution"), contributions(), lags),
    st.tuples(st.just("add_contribution"), contributions(), lags),
    st.tuples(st.just("remove_contribution"), st.sampled_from(CONTRIBUTIONS), lags),
)


def run(graph: RollupGraph, operation: Operation, step: int) -> Changes:
    name, argument, lag = operation
    version = max(1, step - lag)
    if isinstance(argument, str):
        return getattr(graph, name)(argument, version)  # type: ignore[no-any-return]
    if isinstance(argument, tuple):
        key_result_id, value, confidence = argument
        return graph.record_check_in(key_result_id, version, value, confidence, None)
    return getattr(graph, name)(replace(argument, version=version))  # type: ignore[no-any-return]


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def assert_same_figures(incremental: RollupSnapshot, scratch: RollupSnapshot) -> None:
    assert incremental.objectives.keys() == scratch.objectives.keys()
    assert incremental.key_results.keys() == scratch.key_results.keys()
    for objective_id, figures in incremental.objectives.items():
        expected = scratch.objectives[objective_id]
        assert close(figures.progress, expected.progress), (objective_id, figures, expected)
        assert close(figures.confidence, expected.confidence), (objective_id, figures, expected)
        assert figures.status == expected.status, (objective_id, figures, expected)
    for key_result_id, kr_figures in incremental.key_results.items():
        kr_expected = scratch.key_results[key_result_id]
        assert all(close(a, b) for a, b in zip(kr_figures, kr_expected, strict=True)), (
            key_result_id, kr_figures, kr_expected)


Item = tuple[ItemType, str]


def assert_waiting_edges_are_exactly_those_closing_a_cycle(graph: RollupGraph) -> None:
    ups: dict[Item, list[Item]] = {}
    for key_result in graph.key_results():
        ups.setdefault((ItemType.KEY_RESULT, key_result.id), []).append(
            (ItemType.OBJECTIVE, key_result.objective_id))
    for edge in graph.contributions():
        if edge.active:
            ups.setdefault((edge.child_type, edge.child_id), []).append(
                (edge.parent_type, edge.parent_id))

    def reachable(start: Item, goal: Item) -> bool:
        frontier, seen = [start], {start}
        while frontier:
            item = frontier.pop()
            if item == goal:
                return True
            for parent in ups.get(item, ()):
                if parent not in seen:
                    seen.add(parent)
                    frontier.append(parent)
        return False

    for edge in graph.contributions():
        child, parent = (edge.child_type, edge.child_id), (edge.parent_type, edge.parent_id)
        if edge.active:
            assert not reachable(parent, child), f"{edge.id} is active inside a cycle"
        else:
            assert reachable(parent, child), f"{edge.id} waits though it closes no cycle"


@settings(max_examples=200, deadline=None)
@given(st.lists(operations, min_size=8, max_size=60))
def test_incremental_rollup_equals_full_recompute_after_every_event(
        sequence: list[Operation]) -> None:
    graph = graph_at()
    for step, operation in enumerate(sequence, start=1):
        before = graph.snapshot().objectives
        changes = run(graph, operation, step)
        after = graph.snapshot()
        assert_same_figures(after, full_recompute(graph))
        assert_waiting_edges_are_exactly_those_closing_a_cycle(graph)
        moved = {objective_id for objective_id in before.keys() | after.objectives.keys()
                 if (before.get(objective_id) or (None, None, None))[::2]
                 != (after.objectives.get(objective_id) or (None, None, None))[::2]}
        assert set(changes) == moved, operation
