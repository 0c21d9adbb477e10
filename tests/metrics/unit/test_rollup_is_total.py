"""Property: the roll-up arithmetic is total over everything the write side could store.

Any finite double for start, target and value (the goals API allows ±1e15 today; the
engine holds for every double, so a forged or future value cannot break it either), any
weight from 0 to the largest double, any confidence in 0..1, any cycle a ``date`` holds
(0001-01-01 .. 9999-12-31) and any moment as "now": nothing raises, every figure is finite
and in its range, and the incremental roll-up still equals the full recomputation.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from services.metrics.domain.attainment import objective_attainment
from services.metrics.domain.goal_items import (
    Aggregation,
    ContributionState,
    CycleState,
    ItemType,
    KeyResultState,
    Measure,
)
from services.metrics.domain.progress import ATTAINMENT_LIMIT, WeightedSum, attainment, clamped
from services.metrics.domain.recompute import full_recompute
from services.metrics.domain.rollup import RollupGraph
from services.metrics.domain.status import (
    CycleWindow,
    StatusThresholds,
    expected_progress,
    status_of,
)
from shared.clock import FakeClock
from tests.metrics.unit.test_incremental_equals_full_recompute import (
    CONTRIBUTIONS,
    CYCLES,
    KEY_RESULTS,
    OBJECTIVES,
    Operation,
    assert_same_figures,
    lags,
    objectives,
    run,
)

BIGGEST = sys.float_info.max
EDGES = [0.0, -0.0, 5e-324, -5e-324, 1e-300, 1.0, 1e15, -1e15, 1e308, -1e308, BIGGEST, -BIGGEST]

numbers = st.sampled_from(EDGES) | st.floats(allow_nan=False, allow_infinity=False)
weights = (st.sampled_from([0.0, 5e-324, 1e-300, 1.0, 1e6, 1e308, BIGGEST])
           | st.floats(min_value=0.0, allow_infinity=False))
confidences = st.none() | st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0)
offsets = st.builds(lambda minutes: timezone(timedelta(minutes=minutes)),
                    st.integers(-(24 * 60 - 1), 24 * 60 - 1))
moments = (st.datetimes(timezones=st.just(UTC) | offsets)
           | st.sampled_from([datetime.min.replace(tzinfo=UTC),
                              datetime.max.replace(tzinfo=UTC)]))
day_spans = st.sampled_from([(date.min, date.min), (date.max, date.max), (date.min, date.max),
                             (date(9999, 12, 1), date.max)]) | st.tuples(st.dates(), st.dates())


def window(days: tuple[date, date]) -> CycleWindow:
    return CycleWindow(min(days), max(days))


@st.composite
def spans(draw: st.DrawFn) -> tuple[float, float]:
    """(start, target), start != target: any two doubles, or two a few ulps apart."""
    start = draw(numbers)
    if draw(st.booleans()):
        target = draw(numbers.filter(lambda value: value != start))
    else:
        target = start
        for _ in range(draw(st.integers(1, 3))):
            target = math.nextafter(target, draw(st.sampled_from([math.inf, -math.inf])))
        if math.isinf(target) or target == start:
            target = math.nextafter(start, -math.copysign(math.inf, start))
    return start, target


def exact_attainment(start: float, target: float, current: float) -> float:
    share = (Fraction(current) - Fraction(start)) / (Fraction(target) - Fraction(start))
    return float(min(Fraction(ATTAINMENT_LIMIT), max(Fraction(-ATTAINMENT_LIMIT), share)))


@settings(max_examples=100, deadline=None)
@given(spans(), numbers)
def test_attainment_is_finite_capped_and_the_exact_share_within_the_cap(
        span: tuple[float, float], current: float) -> None:
    start, target = span
    measure = Measure.INCREASE if target > start else Measure.DECREASE
    found = attainment(measure, start, target, current)
    exact = exact_attainment(start, target, current)
    assert math.isfinite(found) and abs(found) <= ATTAINMENT_LIMIT
    assert math.isclose(found, exact, rel_tol=1e-12, abs_tol=1e-11), (found, exact)
    assert 0.0 <= clamped(found) <= 1.0
    assert attainment(Measure.BOOLEAN, start, target, current) in (0.0, 1.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(weights, numbers), max_size=8), st.data())
def test_weighted_sums_are_exact_and_finite_whatever_the_order_of_removals(
        inputs: list[tuple[float, float]], data: st.DataObject) -> None:
    running = WeightedSum()
    for weight, value in inputs:
        running.shift(weight, value, +1)
    kept = data.draw(st.lists(st.booleans(), min_size=len(inputs), max_size=len(inputs)))
    for (weight, value), keep in zip(inputs, kept, strict=True):
        if not keep:
            running.shift(weight, value, -1)
    left = [(Fraction(w), Fraction(v)) for (w, v), keep in zip(inputs, kept, strict=True)
            if keep and w > 0]
    if not left:
        assert running.mean() is None and running.sum() is None
        return
    mean, total = running.mean(), running.sum()
    assert mean is not None and total is not None
    assert math.isfinite(mean) and math.isfinite(total)
    exact_mean = sum((w * v for w, v in left), Fraction(0)) / sum((w for w, _ in left),
                                                                  Fraction(0))
    assert math.isclose(mean, float(exact_mean), rel_tol=1e-12, abs_tol=1e-11)
    assert min(v for _, v in left) - 1e-11 <= mean <= max(v for _, v in left) + 1e-11


@settings(max_examples=100, deadline=None)
@given(day_spans, moments | st.datetimes())
def test_expected_progress_is_the_elapsed_share_for_any_cycle_and_any_moment(
        days: tuple[date, date], now: datetime) -> None:
    cycle = window(days)
    share = expected_progress(cycle, now)
    assert 0.0 <= share <= 1.0
    aware = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    offset = aware.utcoffset() or timedelta(0)
    since_year_one = (aware.replace(tzinfo=None) - datetime.min) - offset
    elapsed = since_year_one - timedelta(days=cycle.starts_on.toordinal() - 1)
    length = timedelta(days=cycle.ends_on.toordinal() - cycle.starts_on.toordinal() + 1)
    exact = min(Fraction(1), max(Fraction(0), Fraction(elapsed // timedelta(microseconds=1),
                                                        length // timedelta(microseconds=1))))
    assert math.isclose(share, float(exact), abs_tol=1e-11)


ratios = st.none() | st.floats(0.0, 1.0)


@st.composite
def thresholds(draw: st.DrawFn) -> StatusThresholds:
    gaps = sorted(draw(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=2)))
    levels = sorted(draw(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=2)))
    return StatusThresholds(gaps[0], gaps[1], levels[1], levels[0])


@settings(max_examples=100, deadline=None)
@given(ratios, ratios, ratios, thresholds())
def test_status_rule_judges_every_figure_in_range(
        progress: float | None, expected: float | None, confidence: float | None,
        rule: StatusThresholds) -> None:
    status = status_of(progress, expected, confidence, rule)
    assert (status is None) == (progress is None or expected is None)


# -- the whole engine over the whole range ----------------------------------------------------

cycles = st.builds(lambda key, days: CycleState(key, 0, min(days), max(days)),
                   st.sampled_from(CYCLES), day_spans)


@st.composite
def key_results(draw: st.DrawFn) -> KeyResultState:
    measure = draw(st.sampled_from(Measure))
    start, target = draw(spans())
    if measure is not Measure.BOOLEAN:
        measure = Measure.INCREASE if target > start else Measure.DECREASE
    return KeyResultState(draw(st.sampled_from(KEY_RESULTS)), 0,
                          draw(st.sampled_from(OBJECTIVES)), measure, start, target,
                          weight=draw(weights), aggregation=draw(st.sampled_from(Aggregation)),
                          current=draw(st.none() | numbers), confidence=draw(confidences))


@st.composite
def contributions(draw: st.DrawFn) -> ContributionState:
    child_type = draw(st.sampled_from(ItemType))
    parent_type = (ItemType.OBJECTIVE if child_type is ItemType.OBJECTIVE
                   else draw(st.sampled_from(ItemType)))

    def pool(item_type: ItemType) -> list[str]:
        return OBJECTIVES if item_type is ItemType.OBJECTIVE else KEY_RESULTS

    return ContributionState(draw(st.sampled_from(CONTRIBUTIONS)), 0, child_type,
                             draw(st.sampled_from(pool(child_type))), parent_type,
                             draw(st.sampled_from(pool(parent_type))), draw(weights))


operations: st.SearchStrategy[Operation] = st.one_of(
    st.tuples(st.just("upsert_cycle"), cycles, lags),
    st.tuples(st.just("upsert_objective"), objectives, lags),
    st.tuples(st.just("remove_objective"), st.sampled_from(OBJECTIVES), lags),
    st.tuples(st.just("upsert_key_result"), key_results(), lags),
    st.tuples(st.just("remove_key_result"), st.sampled_from(KEY_RESULTS), lags),
    st.tuples(st.just("record_check_in"),
              st.tuples(st.sampled_from(KEY_RESULTS), numbers, confidences), lags),
    st.tuples(st.just("add_contribution"), contributions(), lags),
    st.tuples(st.just("remove_contribution"), st.sampled_from(CONTRIBUTIONS), lags),
    st.tuples(st.just("reassess_statuses"), moments, st.just(0)),
)


def in_range(value: float | None, low: float, high: float) -> bool:
    return value is None or (math.isfinite(value) and low <= value <= high)


def assert_every_figure_finite(graph: RollupGraph) -> None:
    for node in graph.objectives():
        assert in_range(node.progress, 0.0, 1.0), node.id
        assert in_range(node.confidence, 0.0, 1.0), node.id
        assert in_range(graph.expected_progress_of(node), 0.0, 1.0), node.id
        assert in_range(objective_attainment(graph, node), -ATTAINMENT_LIMIT,
                        ATTAINMENT_LIMIT), node.id
    for key_result in graph.key_results():
        assert in_range(key_result.current, -BIGGEST, BIGGEST), key_result.id
        assert in_range(key_result.progress, 0.0, 1.0), key_result.id
        assert in_range(key_result.attainment, -ATTAINMENT_LIMIT, ATTAINMENT_LIMIT)


@settings(max_examples=100, deadline=None)
@given(moments, st.lists(operations, min_size=8, max_size=40))
def test_incremental_rollup_equals_full_recompute_over_the_whole_accepted_range(
        start: datetime, sequence: list[Operation]) -> None:
    clock = FakeClock(start)
    graph = RollupGraph(StatusThresholds(), clock)
    for step, operation in enumerate(sequence, start=1):
        if operation[0] == "reassess_statuses":
            moment = operation[1]
            assert isinstance(moment, datetime)
            clock.now = moment
            graph.reassess_statuses()
        else:
            run(graph, operation, step)
        assert_same_figures(graph.snapshot(), full_recompute(graph))
        assert_every_figure_finite(graph)


def test_a_tiny_span_reports_capped_attainment_and_full_progress() -> None:
    tiny = KeyResultState("k", 1, "o", Measure.INCREASE, 0.0, 1e-300, current=1.0)
    assert attainment(tiny.measure, tiny.start, tiny.target, 1.0) == ATTAINMENT_LIMIT
    assert attainment(Measure.INCREASE, -1e308, 1e308, 0.0) == 0.5  # the span overflows
    assert attainment(Measure.DECREASE, 1e308, -1e308, -1e308) == 1.0


def test_weights_of_far_apart_sizes_leave_the_small_one_exact_after_the_big_one_goes() -> None:
    running = WeightedSum()
    running.shift(1e6, 0.5, +1)
    running.shift(1e-300, 0.7, +1)
    running.shift(1e6, 0.5, -1)
    assert running.mean() == 0.7
    running.shift(BIGGEST, 1.0, +1)
    running.shift(BIGGEST, 0.0, +1)
    assert running.mean() == 0.5


def test_a_sum_beyond_the_largest_double_is_reported_as_the_largest_double() -> None:
    running = WeightedSum()
    for _ in range(3):
        running.shift(1.0, BIGGEST, +1)
    assert running.sum() == BIGGEST
    running.shift(1.0, BIGGEST, -1)
    running.shift(1.0, BIGGEST, -1)
    assert running.sum() == BIGGEST
    running.shift(1.0, -BIGGEST, +1)
    assert running.sum() == 0.0


def test_a_cycle_ending_on_the_last_day_of_the_calendar_has_an_expected_progress() -> None:
    last = CycleWindow(date(9999, 10, 1), date.max)
    assert expected_progress(last, datetime(9999, 11, 16, tzinfo=UTC)) == 0.5
    assert expected_progress(last, datetime.max.replace(tzinfo=UTC)) > 0.99
    first = CycleWindow(date.min, date.min)
    assert expected_progress(first, datetime.min.replace(tzinfo=UTC)) == 0.0
    assert expected_progress(first, datetime(1, 1, 1, 12)) == 0.5  # naive: UTC

