"""A load in bulk (``RollupGraph.load_objective``, ``load_key_results``, ``settle_load``)
leaves the graph the upserts of the same states would: definitions, figures, sums and
paces, zeros signed as given; and the windows a batch then reads (``hold_windows``) are
the upserts' windows, the latest check-in merged into a window that lacks it (rows
written before windows were kept)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.metrics.domain.goal_items import (
    Aggregation,
    KeyResultState,
    Measure,
    ObjectiveState,
)
from services.metrics.domain.graph import WindowNotRead
from services.metrics.domain.rollup import RollupGraph
from shared.clock import FakeClock
from tests.metrics.unit.builders import NOW, Q4, graph_at, objective

Window = tuple[tuple[float, float, int], ...]


def figures(graph: RollupGraph, windows: bool = True) -> dict[str, object]:
    """What the graph holds; ``windows``: with each key result's window."""
    return {
        "objectives": {o.id: (o.version, o.cycle, o.departments, o.progress, o.confidence,
                              o.status, o.progress_inputs.mean(), o.progress_inputs.count,
                              o.confidence_inputs.mean(), o.confidence_inputs.count,
                              sorted(k.id for k in graph.key_results_of(o.id)))
                       for o in graph.objectives()},
        "key_results": {k.id: (k.version, k.objective_id, k.measure, k.aggregation, k.start,
                               k.target, k.weight, k.unit, repr(k.checked_in),
                               k.given_confidence, k.last_checkin_at, k.signal(),
                               repr(k.history) if windows else None, k.pace,
                               None if k.inputs is None else (k.inputs.sum(), k.inputs.count))
                        for k in graph.key_results()},
        "snapshot": graph.snapshot()}


def loaded(states: list[ObjectiveState | KeyResultState], written: RollupGraph,
           keep_check_ins: bool = True) -> RollupGraph:
    """The graph a consumer loads from rows of these states, each with the pace the graph
    that wrote it (``written``) holds: its window is not loaded."""
    graph = RollupGraph(clock=FakeClock(NOW), keep_check_ins=keep_check_ins,
                        keep_windows=False)
    graph.upsert_cycle(Q4)
    for state in states:
        if isinstance(state, ObjectiveState):
            graph.load_objective(state)
    rows = []
    for s in states:
        if isinstance(s, KeyResultState):
            node = written.key_result(s.id)
            assert node is not None
            rows.append((s.id, s.version, s.objective_id, s.measure.value, s.aggregation.value,
                         s.start, s.target, s.weight, s.unit, s.current, s.confidence,
                         s.last_checkin_at, node.pace))
    for start in range(0, len(rows), 3):  # in chunks, as a load reads them
        graph.load_key_results(rows[start:start + 3])
    graph.settle_load()
    return graph


def read_windows(graph: RollupGraph, states: list[ObjectiveState | KeyResultState]
                 ) -> RollupGraph:
    """``graph`` with every key result's window read as a batch reads it, the row holding
    the state's (an empty one as no window at all)."""
    graph.hold_windows({s.id: s.history for s in states if isinstance(s, KeyResultState)})
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
    # a check-in has a value (the contract's ``current`` is always given): the consumer
    # writes a row's value as its start when none was checked in
    at = None if current is None else draw(st.none() | times)
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
    each = upserted(states)
    bulk = loaded(states, each)
    assert figures(bulk, windows=False) == figures(each, windows=False)
    assert figures(read_windows(bulk, states)) == figures(each)


def test_a_bulk_load_without_windows_keeps_each_latest_check_in_as_the_upserts_do() -> None:
    rng = random.Random(7)
    states: list[ObjectiveState | KeyResultState] = [objective("o0"), objective("o1")]
    for number in range(50):
        states.append(KeyResultState(
            f"k{number}", 2, f"o{number % 3}", Measure.INCREASE, 0.0, 100.0,
            current=rng.choice([None, 30.0]), last_checkin_at=None))
        if rng.random() < 0.5:
            states[-1] = dataclasses.replace(states[-1], current=30.0,  # type: ignore[arg-type]
                                             last_checkin_at=1.8e9)
    each = upserted(states)
    graph = read_windows(loaded(states, each), states)
    assert figures(graph) == figures(each)
    assert any(k.history for k in graph.key_results())


def test_a_graph_without_windows_keeps_what_a_row_holds_and_merges_nothing() -> None:
    state = dataclasses.replace(KeyResultState("k", 3, "o", Measure.INCREASE, 0.0, 10.0),
                                current=4.0, last_checkin_at=50.0,
                                history=((10.0, 1.0, 2),))
    each = RollupGraph(clock=FakeClock(NOW), keep_check_ins=False)
    each.upsert_cycle(Q4)
    each.upsert_objective(objective("o"))
    each.upsert_key_result(state)
    bulk = loaded([objective("o"), state], each, keep_check_ins=False)
    assert figures(read_windows(bulk, [state])) == figures(each)
    assert bulk.key_result("k").history == ((10.0, 1.0, 2),)  # type: ignore[union-attr]


def test_a_loaded_graph_holds_no_window_but_those_read_and_lets_them_go() -> None:
    """The consumer's graph holds each key result's pace, not its window: a window is
    asked of it only once read (``hold_windows``) or changed, until written."""
    state = dataclasses.replace(KeyResultState("k", 3, "o", Measure.INCREASE, 0.0, 10.0),
                                current=4.0, last_checkin_at=50.0 * 86_400,
                                history=((0.0, 1.0, 1), (86_400.0, 2.0, 2)))
    next_state = dataclasses.replace(state, version=4)
    each = upserted([objective("o"), state])
    written = each.key_result("k")
    bulk = loaded([objective("o"), state], each)
    node = bulk.key_result("k")
    assert written is not None and written.pace is not None and node is not None
    assert not node.window_held and node.pace == written.pace
    with pytest.raises(WindowNotRead):
        node.history  # noqa: B018
    assert bulk.windows_wanted([next_state]) == {"k"}
    bulk.hold_windows({"k": state.history})
    assert node.window_held and bulk.windows_wanted([next_state]) == set()
    assert node.history == written.history
    bulk.windows_written()
    assert not node.window_held and node.table.windows == {}
    assert node.pace == written.pace


def test_a_graph_that_keeps_every_window_is_not_loaded() -> None:
    graph = graph_at()
    graph.load_objective(objective("o"))
    with pytest.raises(ValueError, match="every window"):
        graph.load_key_results([])
