"""A load in bulk (``RollupGraph.load_objective``, ``load_key_results``, ``settle_load``)
leaves the graph the upserts of the same states would: definitions, figures, sums and
windows, the latest check-in merged into a window that lacks it (rows written before
windows were kept), zeros signed as given."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from services.metrics.domain.goal_items import (
    Aggregation,
    KeyResultState,
    Measure,
    ObjectiveState,
)
from services.metrics.domain.graph import packed_check_ins
from services.metrics.domain.rollup import RollupGraph
from tests.metrics.unit.builders import Q4, graph_at, objective

Window = tuple[tuple[float, float, int], ...]


def figures(graph: RollupGraph) -> dict[str, object]:
    return {
        "objectives": {o.id: (o.version, o.cycle, o.departments, o.progress, o.confidence,
                              o.status, o.progress_inputs.mean(), o.progress_inputs.count,
                              o.confidence_inputs.mean(), o.confidence_inputs.count,
                              sorted(k.id for k in graph.key_results_of(o.id)))
                       for o in graph.objectives()},
        "key_results": {k.id: (k.version, k.objective_id, k.measure, k.aggregation, k.start,
                               k.target, k.weight, k.unit, repr(k.checked_in),
                               k.given_confidence, k.last_checkin_at, k.signal(),
                               repr(k.history), k.pace,
                               None if k.inputs is None else (k.inputs.sum(), k.inputs.count))
                        for k in graph.key_results()},
        "snapshot": graph.snapshot()}


def loaded(states: list[ObjectiveState | KeyResultState]) -> RollupGraph:
    graph = graph_at()
    graph.upsert_cycle(Q4)
    for state in states:
        if isinstance(state, ObjectiveState):
            graph.load_objective(state)
    rows = [(s.id, s.version, s.objective_id, s.measure.value, s.aggregation.value, s.start,
             s.target, s.weight, s.unit, s.current, s.confidence, s.last_checkin_at,
             packed_check_ins(s.history))
            for s in states if isinstance(s, KeyResultState)]
    for start in range(0, len(rows), 3):  # in chunks, as a load reads them
        graph.load_key_results(rows[start:start + 3])
    graph.settle_load()
    return graph


def upserted(states: list[ObjectiveState | KeyResultState]) -> RollupGraph:
    graph = graph_at()
    graph.upsert_cycle(Q4)
    for state in states:
        if isinstance(state, ObjectiveState):
            graph.upsert_objective(state)
        else:
            graph.upsert_key_result(state)
    return graph


times = st.sampled_from([1_000.0, 2_000.0, 3_000.0, 4_000.0 * 86_400])
values = st.sampled_from([0.0, -0.0, 5.0, 40.0, 100.0, 1e300])
windows = st.lists(st.tuples(times, values, st.integers(0, 6)), max_size=14).map(
    lambda points: tuple(sorted({at: (at, v, version) for at, v, version in points}
                                .values()))[-12:])


@st.composite
def key_results(draw: st.DrawFn, number: int) -> KeyResultState:
    measure = draw(st.sampled_from(list(Measure)))
    start, target = ((0.0, 1.0) if measure is Measure.BOOLEAN
                     else draw(st.sampled_from([(0.0, 100.0), (100.0, 20.0), (-5.0, 5.0)])))
    window: Window = draw(windows)
    current = draw(st.none() | values)
    at = draw(st.none() | times)
    if window and draw(st.booleans()):  # as the consumer writes it: ending with the latest
        at, current = window[-1][0], window[-1][1]
    return KeyResultState(
        f"k{number}", draw(st.integers(1, 7)), f"o{draw(st.integers(0, 3))}", measure,
        start, target, weight=draw(st.sampled_from([0.0, 1.0, 2.5])),
        aggregation=draw(st.sampled_from(list(Aggregation))), current=current,
        confidence=draw(st.none() | st.sampled_from([0.0, 0.3, 1.0])),
        last_checkin_at=at, unit=draw(st.sampled_from(["", "EUR"])), history=window)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), count=st.integers(0, 12), objectives=st.integers(0, 4))
def test_a_bulk_load_equals_the_upserts_of_the_same_states(data: st.DataObject, count: int,
                                                            objectives: int) -> None:
    states: list[ObjectiveState | KeyResultState] = [
        objective(f"o{number}", collective=number % 2 == 1) for number in range(objectives)]
    states += [data.draw(key_results(number)) for number in range(count)]
    assert figures(loaded(states)) == figures(upserted(states))


def test_a_bulk_load_without_windows_keeps_each_latest_check_in_as_the_upserts_do() -> None:
    rng = random.Random(7)
    states: list[ObjectiveState | KeyResultState] = [objective("o0"), objective("o1")]
    for number in range(50):
        states.append(KeyResultState(
            f"k{number}", 2, f"o{number % 3}", Measure.INCREASE, 0.0, 100.0,
            current=rng.choice([None, 30.0]), last_checkin_at=rng.choice([None, 1.8e9])))
    graph = loaded(states)
    assert figures(graph) == figures(upserted(states))
    assert any(k.history for k in graph.key_results())


def test_a_graph_without_windows_keeps_what_a_row_holds_and_merges_nothing() -> None:
    state = dataclasses.replace(KeyResultState("k", 3, "o", Measure.INCREASE, 0.0, 10.0),
                                current=4.0, last_checkin_at=50.0,
                                history=((10.0, 1.0, 2),))
    bulk, each = RollupGraph(keep_check_ins=False), RollupGraph(keep_check_ins=False)
    bulk.load_objective(objective("o"))
    bulk.load_key_results([(state.id, state.version, state.objective_id, "increase",
                            "check_ins", 0.0, 10.0, 1.0, "", 4.0, None, 50.0,
                            packed_check_ins(state.history))])
    bulk.settle_load()
    each.upsert_objective(objective("o"))
    each.upsert_key_result(state)
    assert figures(bulk) == figures(each)
