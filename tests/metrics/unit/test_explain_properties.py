"""Properties of the explanation (``domain/explain.py``, ``domain/forecast.py``):

- the shares of the gap add up to the gap, by input and by department, on random graphs
  (depth, shared children, weights, summing key results), and each part is a single
  department (a jointly owned input is split in equal parts among its owners);
- the forecast of a straight-line history is that line at the cycle's end;
- after any sequence of events (late, duplicated, out of order), the explanation equals
  the one computed from a graph rebuilt from the items held (what a restart or a rebuild
  loads), and a key result's window does not depend on the order of its check-ins;
- the forecast and why that the consumer keeps across events (its memo of the explained
  subtrees, told what changed after each event) equal those computed afresh, and those of
  the full explanation;
- what the consumer keeps of each objective's outlook in the read model, rewritten only for
  the objectives its changes may have moved (``outlooks_moved``), equals what a fresh
  computation keeps after every event, and told at any moment it gives the full
  explanation's gap by department, forecast and why at that moment.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.metrics.domain.explain import (
    Explanation,
    Forecast,
    Item,
    Kept,
    Share,
    explain,
    why,
)
from services.metrics.domain.explain_graph import (
    GraphItems,
    LinkIndex,
    cycle_end,
    explain_in_graph,
    kept_in_graph,
    outlook_in_graph,
    outlooks_moved,
    told_in_graph,
)
from services.metrics.domain.forecast import WINDOW, merged, pace
from services.metrics.domain.goal_items import (
    ContributionState,
    CycleState,
    KeyResultState,
    LinkState,
    Measure,
    ObjectiveState,
)
from services.metrics.domain.rollup import RollupGraph
from services.metrics.domain.status import CycleWindow
from shared.clock import FakeClock
from tests.metrics.unit.builders import NOW, graph_at
from tests.metrics.unit.test_incremental_equals_full_recompute import (
    CYCLES,
    KEY_RESULTS,
    OBJECTIVES,
    Operation,
    contributions,
    key_results,
    objectives,
    operations,
    run,
    values,
)

STALE = 7 * 86_400.0
moments = st.floats(NOW.timestamp() - 80 * 86_400, NOW.timestamp(), allow_nan=False)
timed_check_ins = st.tuples(st.just("check_in_at"),
                            st.tuples(st.sampled_from(KEY_RESULTS), values, moments),
                            st.sampled_from([0, 0, 1, 3]))


@st.composite
def events(draw: st.DrawFn) -> list[Operation]:
    """A graph set up (cycles, objectives, key results, contributions: depth, shared
    children, weights, sums), then check-ins and any events, some late or repeated."""
    setup: list[Operation] = [
        ("upsert_cycle", CycleState(key, 1, date(2026, 10, 1)
                                    + timedelta(days=draw(st.integers(-30, 30))),
                                    date(2026, 12, 31)), 0) for key in CYCLES]
    setup += [("upsert_objective", replace(draw(objectives), id=objective_id), 0)
              for objective_id in OBJECTIVES]
    setup += [("upsert_key_result", draw(key_results()), 0)
              for _ in range(draw(st.integers(2, 8)))]
    setup += [("add_contribution", draw(contributions()), 0)
              for _ in range(draw(st.integers(0, 6)))]
    later = draw(st.lists(st.one_of(timed_check_ins, timed_check_ins, operations),
                          max_size=40))
    return setup + later



def apply(graph: RollupGraph, sequence: list[Operation]) -> None:
    for step, operation in enumerate(sequence, start=1):
        apply_step(graph, operation, step)


def apply_step(graph: RollupGraph, operation: Operation, step: int) -> None:
    name, argument, lag = operation
    if name == "check_in_at":
        assert isinstance(argument, tuple)
        key_result_id, value, at = argument
        graph.record_check_in(key_result_id, max(1, step - lag), value, None, at)
    else:
        run(graph, operation, step)


def rebuilt(graph: RollupGraph) -> RollupGraph:
    """A graph loaded from the items ``graph`` holds, as ``load_graph`` loads the read model."""
    fresh = graph_at(graph.now)
    for key in CYCLES:
        held = graph.cycle(key)
        if held is not None:
            fresh.upsert_cycle(CycleState(key, held[0], held[1].starts_on, held[1].ends_on))
    for o in graph.objectives():
        fresh.upsert_objective(ObjectiveState(o.id, o.version, o.cycle, o.kind, o.departments,
                                              o.title, o.archived))
    for k in graph.key_results():
        fresh.upsert_key_result(KeyResultState(
            k.id, k.version, k.objective_id, k.measure, k.start, k.target, weight=k.weight,
            aggregation=k.aggregation, current=k.checked_in, confidence=k.given_confidence,
            last_checkin_at=k.last_checkin_at, history=k.history))
    for e in graph.contributions():
        if e.active:
            fresh.add_contribution(ContributionState(e.id, e.version, e.child_type, e.child_id,
                                                     e.parent_type, e.parent_id, e.weight))
    return fresh


links = st.builds(
    lambda number, from_id, to_type, to_id, department: LinkState(
        f"l{number}", 1, "depends_on", "objective", from_id, "sales", to_type, to_id,
        department),
    st.integers(0, 3), st.sampled_from(OBJECTIVES), st.sampled_from(["objective", "key_result"]),
    st.sampled_from(OBJECTIVES + KEY_RESULTS), st.sampled_from(["finance", "production"]))


@settings(max_examples=150, deadline=None)
@given(events(), st.lists(st.tuples(st.integers(0, 60), st.one_of(links, st.integers(0, 3))),
                          max_size=8), st.randoms())
def test_the_forecast_and_why_kept_across_events_equal_those_computed_afresh(
        sequence: list[Operation], link_changes: list[tuple[int, LinkState | int]],
        random: object) -> None:
    sequence = list(sequence)
    random.shuffle(sequence)  # type: ignore[attr-defined]  # items before what they name
    graph, index = graph_at(), LinkIndex()
    kept = GraphItems(graph)  # as the projection keeps it: told what changed after each step
    bounded = GraphItems(graph, limit=3)  # and as it keeps it at a million key results
    for step, operation in enumerate(sequence, start=1):
        apply_step(graph, operation, step)
        for at, change in link_changes:
            if at == step and isinstance(change, LinkState):
                index.put(change)
            elif at == step:
                index.drop(f"l{change}")
        touched, reshaped = graph.take_touched(), graph.take_reshaped()
        linked = index.take_changed()
        kept.forget(touched[0] | reshaped[0] | linked, touched[1] | reshaped[1] | linked)
        bounded.forget(touched[0] | reshaped[0] | linked, touched[1] | reshaped[1] | linked)
        for objective_id in OBJECTIVES:
            told = outlook_in_graph(graph, kept, index, objective_id)
            assert told == outlook_in_graph(graph, GraphItems(graph), index, objective_id)
            bounded.trim()  # past its bound it starts again: the same outlook
            assert told == outlook_in_graph(graph, bounded, index, objective_id)
            explanation = explain_in_graph(graph, GraphItems(graph), index, objective_id,
                                           STALE)
            if explanation is None:
                assert told is None
            else:
                forecast = replace(explanation.forecast, estimators=())
                assert told is not None
                assert (told.forecast, told.why) == (forecast, explanation.why)


@settings(max_examples=150, deadline=None)
@given(events(), st.lists(st.tuples(st.integers(0, 60), st.one_of(links, st.integers(0, 3))),
                          max_size=8), st.randoms(), st.floats(0, 120 * 86_400))
def test_the_outlook_kept_in_the_read_model_equals_the_explanation(
        sequence: list[Operation], link_changes: list[tuple[int, LinkState | int]],
        random: object, later: float) -> None:
    sequence = list(sequence)
    random.shuffle(sequence)  # type: ignore[attr-defined]  # items before what they name
    clock = FakeClock(NOW)
    graph, index = graph_at(clock), LinkIndex()
    memo = GraphItems(graph)
    stored: dict[str, Kept | None] = {}  # the read model's outlook column, as the projection writes
    for step, operation in enumerate(sequence, start=1):
        apply_step(graph, operation, step)
        for at, change in link_changes:
            if at == step and isinstance(change, LinkState):
                index.put(change)
            elif at == step:
                index.drop(f"l{change}")
        touched, reshaped = graph.take_touched(), graph.take_reshaped()
        linked = index.take_changed()
        objective_ids, key_result_ids = touched[0] | reshaped[0] | linked, touched[1] | \
            reshaped[1] | linked
        memo.forget(objective_ids, key_result_ids)
        for objective_id in outlooks_moved(graph, index, objective_ids, key_result_ids):
            stored[objective_id] = kept_in_graph(graph, memo, index, objective_id)
        for objective_id in OBJECTIVES:
            fresh = kept_in_graph(graph, GraphItems(graph), index, objective_id)
            if fresh is not None:
                assert stored.get(objective_id) == fresh, objective_id
    # told later (the clock moves; nothing is written meanwhile), it is the explanation
    clock.advance(timedelta(seconds=later))
    graph.reassess_statuses()
    moved, _ = graph.take_touched()
    for objective_id in outlooks_moved(graph, index, moved, ()):
        stored[objective_id] = kept_in_graph(graph, memo, index, objective_id)
    for objective_id in OBJECTIVES:
        node = graph.objective(objective_id)
        explanation = explain_in_graph(graph, GraphItems(graph), index, objective_id, STALE)
        if node is None or explanation is None:
            continue
        kept = stored[objective_id]
        assert isinstance(kept, Kept)
        gap, departments, forecast, why = told_in_graph(graph, node, kept)
        assert (gap, departments, forecast, why, kept.risks) == (
            explanation.gap, explanation.departments,
            replace(explanation.forecast, estimators=()), explanation.why,
            explanation.dependencies_at_risk)


def comparable(explanation: Explanation | None) -> object:
    """The explanation with its summing key results in one order (the order a subtree's
    walk meets them in); its inputs come in one order already, whoever built it."""
    if explanation is None:
        return None
    return replace(explanation, sums=tuple(sorted(explanation.sums, key=repr)))


def explanations(graph: RollupGraph) -> dict[str, Explanation | None]:
    items, links = GraphItems(graph), LinkIndex()
    return {objective_id: explain_in_graph(graph, items, links, objective_id, STALE)
            for objective_id in OBJECTIVES}


@settings(max_examples=150, deadline=None)
@given(events())
def test_the_shares_add_up_to_the_gap(sequence: list[Operation]) -> None:
    graph = graph_at()
    apply(graph, sequence)
    for explanation in explanations(graph).values():
        if explanation is None or explanation.gap is None:
            continue
        # every part is a single department (a jointly owned input is split among its
        # owners), each once
        names = [share.department for share in explanation.departments]
        assert all("+" not in name for name in names) and len(set(names)) == len(names)
        by_department = math.fsum(share.share for share in explanation.departments)
        assert math.isclose(by_department, explanation.gap, abs_tol=1e-9), explanation
        by_input = math.fsum(i.share for i in explanation.inputs if i.share is not None)
        assert math.isclose(by_input, explanation.gap, abs_tol=1e-9), explanation
        assert math.isclose(math.fsum(s.weight for s in explanation.departments), 1.0,
                            abs_tol=1e-9)
        for breakdown in explanation.sums:
            assert all("+" not in d.department for d in breakdown.departments)
            if breakdown.expected_amount is not None and breakdown.departments:
                assert math.isclose(
                    math.fsum(d.expected_amount or 0.0 for d in breakdown.departments),
                    breakdown.expected_amount, rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=150, deadline=None)
@given(events())
def test_the_explanation_after_any_events_equals_the_one_after_a_rebuild(
        sequence: list[Operation]) -> None:
    graph = graph_at()
    apply(graph, sequence)
    incremental = explanations(graph)
    from_scratch = explanations(rebuilt(graph))
    assert {k: comparable(v) for k, v in incremental.items()} == {
        k: comparable(v) for k, v in from_scratch.items()}


@given(st.lists(st.tuples(st.one_of(moments, st.sampled_from([NOW.timestamp() - 86_400.0,
                                                                NOW.timestamp()])),
                          values), max_size=30),
       st.randoms())
def test_a_window_does_not_depend_on_the_order_of_its_check_ins(
        check_ins: list[tuple[float, float]], random: object) -> None:
    # the key result's states as the goals service writes them: version 2, 3, ... each
    # carrying its latest check-in (time, value); some share a time (moments sampled twice)
    states = [(at, value, version) for version, (at, value) in enumerate(check_ins, start=2)]

    def window_of(ordered: list[tuple[float, float, int]]) -> tuple[tuple[float, float, int],
                                                                     ...]:
        window: tuple[tuple[float, float, int], ...] = ()
        for at, value, version in ordered:
            window = merged(window, at, value, version) or window
        return window

    shuffled = states + states[: len(states) // 2]  # and some seen twice
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    window = window_of(states)
    assert window == window_of(shuffled)
    assert len(window) == min(WINDOW, len({at for at, _ in check_ins}))
    # at each time held, the value of the newest version with that time
    newest = {at: (value, version) for at, value, version in states}
    assert all(newest[at] == (value, version) for at, value, version in window)


@given(intercept=st.floats(-1e6, 1e6), per_day=st.floats(-1e4, 1e4),
       days=st.lists(st.integers(0, 90), min_size=3, max_size=20, unique=True).filter(
           lambda days: max(days) - min(days) >= 1),
       start=st.sampled_from([0.0, -50.0, 100.0]), span=st.sampled_from([1e3, -250.0, 1e6]))
def test_the_forecast_of_a_straight_line_history_is_that_line(
        intercept: float, per_day: float, days: list[int], start: float, span: float) -> None:
    cycle = CycleWindow(date(2026, 10, 1), date(2026, 12, 31))
    origin = datetime(2026, 10, 1, tzinfo=UTC).timestamp()

    def line(moment: float) -> float:
        return intercept + per_day * (moment - origin) / 86_400.0

    history = tuple(sorted((origin + day * 86_400.0, line(origin + day * 86_400.0), version)
                           for version, day in enumerate(sorted(days), start=2)))[-WINDOW:]
    last_at, last_value, _ = history[-1]
    key_result = Item("key_result", "k", "k", ("sales",), 0.5, start=start,
                      target=start + span, value=last_value, last_checkin_at=last_at,
                      pace=pace(history))
    objective = Item("objective", "o", "o", ("sales",), 0.5, inputs=[(2.0, key_result)])
    end = cycle_end(cycle)
    explanation = explain(objective, 0.5, end, last_at, [], STALE)
    expected = (line(end) - start) / span
    assert explanation.forecast.attainment is not None
    assert math.isclose(explanation.forecast.attainment, expected, rel_tol=1e-6,
                        abs_tol=1e-6 * max(1.0, abs(intercept) + abs(per_day) * 120) / abs(span))


def _one_key_result(history: list[tuple[float, float]], *, start: float = 0.0,
                    target: float = 100.0) -> Item:
    windowed = tuple((at, value, version) for version, (at, value) in enumerate(history, 2))
    last_at, last_value = history[-1]
    key_result = Item("key_result", "k", "k", ("sales",), last_value / target, start=start,
                      target=target, value=last_value, last_checkin_at=last_at,
                      pace=pace(windowed))
    return Item("objective", "o", "o", ("sales",), key_result.progress,
                inputs=[(1.0, key_result)])


def test_a_cycle_that_has_ended_has_no_forecast() -> None:
    """Its attainment is its progress: a line drawn past its last check-in to its end would
    tell a figure it never reached (115 % for a target that ended at 50 %)."""
    end = cycle_end(CycleWindow(date(2026, 7, 1), date(2026, 9, 30)))
    day = 86_400.0
    history = [(datetime(2026, 7, 10, tzinfo=UTC).timestamp() + n * 31 * day, value)
               for n, value in enumerate([10.0, 40.0, 60.0])]
    root = _one_key_result(history)
    during = explain(root, 0.9, end, history[-1][0], [], STALE).forecast
    assert during.attainment is not None  # the same history, seen before the end: a forecast
    for after in (end, end + 1.0, end + 60 * day):
        forecast = explain(root, 1.0, end, after, [], STALE).forecast
        assert (forecast.attainment, forecast.reached_on) == (None, None), after


def test_a_cycle_that_has_not_begun_has_no_forecast() -> None:
    """Check-ins before the cycle (a baseline, early figures) carried over the whole cycle
    would tell a figure of nothing that happened in it."""
    end = cycle_end(CycleWindow(date(2027, 1, 1), date(2027, 3, 31)))
    day = 86_400.0
    today = datetime(2026, 11, 29, tzinfo=UTC).timestamp()
    root = _one_key_result([(today - 3 * day, 10.0), (today - 2 * day, 20.0),
                            (today - day, 30.0)])
    before = explain(root, 0.0, end, today, [], STALE).forecast
    assert (before.attainment, before.reached_on) == (None, None)
    under_way = explain(root, 0.1, end, today, [], STALE).forecast  # the same, once begun
    assert under_way.attainment is not None


def test_the_target_is_reached_when_the_line_is_at_it_now_not_when_it_once_was() -> None:
    """A falling line that began above the target has not reached it "today" once it is
    below; a rising line below it reaches it on the day it crosses 1.0."""
    end = cycle_end(CycleWindow(date(2026, 10, 1), date(2026, 12, 31)))
    day = 86_400.0
    origin = datetime(2026, 10, 5, tzinfo=UTC).timestamp()
    falling = _one_key_result([(origin, 300.0), (origin + 15 * day, 200.0),
                               (origin + 36 * day, 120.0)])
    now = origin + 55 * day
    forecast = explain(falling, 0.6, end, now, [], STALE).forecast
    assert forecast.line is not None and forecast.line(now) < 1.0 and forecast.line.slope < 0
    assert forecast.reached_on is None
    # still above the target now, though falling: reached today
    above = explain(falling, 0.6, end, origin + 37 * day, [], STALE).forecast
    assert above.line is not None and above.line(origin + 37 * day) >= 1.0
    assert above.reached_on == datetime.fromtimestamp(origin + 37 * day, UTC).date()
    rising = _one_key_result([(origin, 10.0), (origin + 10 * day, 20.0),
                              (origin + 20 * day, 30.0)])
    now = origin + 25 * day
    forecast = explain(rising, 0.6, end, now, [], STALE).forecast
    assert forecast.line is not None
    crossing = now + (1.0 - forecast.line(now)) / forecast.line.slope
    assert forecast.reached_on == datetime.fromtimestamp(crossing, UTC).date()
    assert forecast.reached_on == date(2027, 1, 3)  # 1 a day from 30 on Oct 25: 100 on Jan 3


def test_a_jointly_owned_input_is_split_in_equal_parts() -> None:
    joint = Item("key_result", "k0", "k0", ("sales", "marketing"), 0.2)
    own = Item("key_result", "k1", "k1", ("sales", "marketing"), 0.9)
    contributor = Item("key_result", "c", "c", ("marketing",), 0.0, target=100.0, value=40.0)
    sums = Item("key_result", "k2", "k2", ("sales", "marketing"), 0.5, target=100.0,
                value=50.0, sums=True, inputs=[(1.0, contributor), (1.0, Item(
                    "key_result", "d", "d", ("finance", "sales"), 0.0, target=100.0,
                    value=10.0))])
    root = Item("objective", "o", "o", ("sales", "marketing"), 0.525,
                inputs=[(1.0, joint), (1.0, own), (2.0, sums)])
    explanation = explain(root, 0.6, None, NOW.timestamp(), [], STALE)
    shares = {share.department: share.share for share in explanation.departments}
    weights = {share.department: share.weight for share in explanation.departments}
    # k0 and k1: a quarter of the weight each, halved between sales and marketing; k2 (half
    # the weight) sums marketing's 40 and 10 split between finance and sales, the plan
    # (100 each) likewise: marketing plans 0.5, finance and sales 0.25 each
    assert math.isclose(shares["marketing"], 0.25 * ((0.6 - 0.2) / 2 + (0.6 - 0.9) / 2)
                        + 0.5 * (0.5 * 0.6 * 100 - 40.0) / 100, abs_tol=1e-12)
    assert math.isclose(shares["sales"], 0.25 * ((0.6 - 0.2) / 2 + (0.6 - 0.9) / 2)
                        + 0.5 * (0.25 * 0.6 * 100 - 5.0) / 100, abs_tol=1e-12)
    assert math.isclose(shares["finance"], 0.5 * (0.25 * 0.6 * 100 - 5.0) / 100,
                        abs_tol=1e-12)
    assert math.isclose(math.fsum(shares.values()), explanation.gap or 0.0, abs_tol=1e-12)
    assert math.isclose(weights["marketing"], 0.25 + 0.25, abs_tol=1e-12)
    assert math.isclose(weights["sales"], 0.25 + 0.125, abs_tol=1e-12)
    (breakdown,) = explanation.sums
    assert {d.department: d.amount for d in breakdown.departments} == {
        "finance": 5.0, "marketing": 40.0, "sales": 5.0}


def test_too_little_history_gives_no_forecast() -> None:
    graph = graph_at()
    begins = (NOW - timedelta(days=10)).date()
    graph.upsert_cycle(CycleState("q1", 1, begins, date(2026, 12, 31)))
    graph.upsert_objective(ObjectiveState("o0", 1, "q1", *_department()))
    graph.upsert_key_result(KeyResultState("k0", 1, "o0", Measure.INCREASE, 0.0, 100.0))
    explanation = explain_in_graph(graph, GraphItems(graph), LinkIndex(), "o0", STALE)
    assert explanation is not None and explanation.forecast.attainment is None  # no check-in
    start = datetime.combine(begins, datetime.min.time(), UTC).timestamp()
    # three check-ins within hours of the cycle's start: neither pace can be told
    for version, hours in enumerate((0, 1, 2), start=2):
        graph.record_check_in("k0", version, 10.0 * version, None, start + hours * 3600)
    explanation = explain_in_graph(graph, GraphItems(graph), LinkIndex(), "o0", STALE)
    assert explanation is not None and explanation.forecast.attainment is None
    graph.record_check_in("k0", 5, 40.0, None, start + 2 * 86_400)  # now it spans two days
    explanation = explain_in_graph(graph, GraphItems(graph), LinkIndex(), "o0", STALE)
    assert explanation is not None and explanation.forecast.attainment is not None


def _department() -> tuple[object, tuple[str, ...]]:
    from services.metrics.domain.goal_items import ObjectiveKind
    return ObjectiveKind.DEPARTMENT, ("sales",)


def test_a_dependency_at_risk_and_a_stale_input_are_named() -> None:
    graph = graph_at()
    graph.upsert_cycle(CycleState("q1", 1, date(2026, 10, 1), date(2026, 12, 31)))
    graph.upsert_objective(ObjectiveState("o0", 1, "q1", *_department()))
    graph.upsert_objective(ObjectiveState("o1", 1, "q1", _department()[0], ("production",),
                                          title="Onboarding capacity"))
    graph.upsert_key_result(KeyResultState("k0", 1, "o0", Measure.INCREASE, 0.0, 100.0,
                                           current=60.0,
                                           last_checkin_at=NOW.timestamp() - 86_400))
    graph.upsert_key_result(KeyResultState("k1", 1, "o1", Measure.INCREASE, 0.0, 100.0,
                                           current=5.0,
                                           last_checkin_at=(NOW - timedelta(days=30))
                                           .timestamp()))
    links = LinkIndex()
    links.put(LinkState("l0", 1, "supplied_by", "objective", "o0", "sales", "objective", "o1",
                        "production"))
    explanation = explain_in_graph(graph, GraphItems(graph), links, "o0", STALE)
    assert explanation is not None
    assert [(d.other_id, d.other_status) for d in explanation.dependencies_at_risk] == [
        ("o1", graph.objective("o1").status.value)]  # type: ignore[union-attr]
    assert explanation.why is not None and "production 'Onboarding capacity'" in explanation.why
    assert explanation.stale_inputs == ()
    production = explain_in_graph(graph, GraphItems(graph), links, "o1", STALE)
    assert production is not None
    assert [s.key_result_id for s in production.stale_inputs] == ["k1"]


def test_the_why_writes_points_to_a_tenth_as_the_console_writes_each_part() -> None:
    """0.6 pts behind, marketing 0.3 of it: not '1 pts', '0 pts' (whole points)."""
    parts = (Share("marketing", 0.003, 0.5), Share("sales", 0.003, 0.5))
    assert why(0.006, parts, (), Forecast(None, None, None)) == (
        "0.6 pts behind plan; marketing holds 0.3 pts of it.")
    one = (Share("sales", 0.01, 1.0),)
    assert why(0.01, one, (), Forecast(None, None, None)) == (
        "1.0 pt behind plan; sales holds 1.0 pt of it.")
    # half up on the decimal, as the console: 0.25 pts is 0.3 (format() says 0.2)
    halves = (Share("sales", 0.0025, 1.0),)
    assert why(0.0025, halves, (), Forecast(None, None, None)) == (
        "0.3 pts behind plan; sales holds 0.3 pts of it.")
