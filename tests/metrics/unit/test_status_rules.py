"""Expected progress from the cycle, and on_track / at_risk / off_track from gap and confidence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from services.metrics.domain.status import (
    CycleWindow,
    Status,
    StatusThresholds,
    expected_progress,
    status_of,
)
from shared.clock import FakeClock
from tests.metrics.unit.builders import Q4, apply, graph_at, key_result, objective

DEFAULTS = StatusThresholds()
QUARTER = CycleWindow(date(2026, 10, 1), date(2026, 12, 31))  # 92 days


@pytest.mark.parametrize(("now", "share"), [
    (datetime(2026, 9, 1, tzinfo=UTC), 0.0),
    (datetime(2026, 10, 1, tzinfo=UTC), 0.0),
    (datetime(2026, 11, 16, tzinfo=UTC), 0.5),
    (datetime(2027, 1, 1, tzinfo=UTC), 1.0),
    (datetime(2027, 3, 1, tzinfo=UTC), 1.0),
])
def test_expected_progress_is_the_elapsed_share_of_the_cycle(now: datetime,
                                                             share: float) -> None:
    assert expected_progress(QUARTER, now) == pytest.approx(share)


@pytest.mark.parametrize(("progress", "expected", "confidence", "status"), [
    (0.5, 0.5, None, Status.ON_TRACK),
    (0.9, 0.5, 0.9, Status.ON_TRACK),  # ahead of schedule
    (0.4, 0.5, 0.5, Status.ON_TRACK),  # gap 0.1 and confidence 0.5: both on the line
    (0.3, 0.4, 0.7, Status.ON_TRACK),  # 0.4 - 0.3 is not above 0.1 despite floats
    (0.39, 0.5, 0.9, Status.AT_RISK),  # gap 0.11
    (0.25, 0.5, None, Status.AT_RISK),  # gap 0.25
    (0.5, 0.5, 0.49, Status.AT_RISK),  # on schedule but not confident
    (0.5, 0.5, 0.3, Status.AT_RISK),
    (0.24, 0.5, 0.9, Status.OFF_TRACK),  # far behind: confidence cannot make up for it
    (0.5, 0.5, 0.29, Status.OFF_TRACK),  # on schedule but given up on
    (0.3, 0.5, 0.1, Status.OFF_TRACK),
    (None, 0.5, 0.9, None),  # no data, no status
    (0.5, None, 0.9, None),  # no cycle known, no status
])
def test_status_is_the_worse_of_the_gap_and_the_confidence_ratings(
        progress: float | None, expected: float | None, confidence: float | None,
        status: Status | None) -> None:
    assert status_of(progress, expected, confidence, DEFAULTS) == status


def test_operator_thresholds_change_the_verdict() -> None:
    lenient = StatusThresholds(on_track_gap=0.3, at_risk_gap=0.5, on_track_confidence=0.2,
                               at_risk_confidence=0.1)
    assert status_of(0.25, 0.5, 0.25, DEFAULTS) is Status.OFF_TRACK
    assert status_of(0.25, 0.5, 0.25, lenient) is Status.ON_TRACK


@pytest.mark.parametrize("thresholds", [
    {"on_track_gap": 0.3, "at_risk_gap": 0.2},
    {"on_track_confidence": 0.2, "at_risk_confidence": 0.4},
    {"at_risk_gap": 1.5},
    {"at_risk_confidence": -0.1},
])
def test_inconsistent_thresholds_are_refused(thresholds: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="need"):
        StatusThresholds(**thresholds)


def test_objective_status_uses_its_cycle_and_the_weighted_confidence() -> None:
    graph = graph_at(datetime(2026, 11, 16, tzinfo=UTC))  # half the quarter gone
    apply(graph, Q4, objective("o"), key_result("a", "o", current=50, confidence=0.9, weight=3),
          key_result("b", "o", current=50, confidence=0.1, weight=1))
    node = graph.objective("o")
    assert node is not None
    assert node.confidence == pytest.approx(0.7)
    assert node.status is Status.ON_TRACK


def test_objective_without_a_known_cycle_has_no_status_until_the_cycle_arrives() -> None:
    graph = graph_at(datetime(2026, 11, 16, tzinfo=UTC))
    apply(graph, objective("o"), key_result("k", "o", current=10))
    node = graph.objective("o")
    assert node is not None and node.progress == 0.1 and node.status is None
    changes = graph.upsert_cycle(Q4)
    assert changes["o"].status is Status.OFF_TRACK and not changes["o"].progress_changed


def test_statuses_move_as_time_passes_and_cycle_dates_change() -> None:
    clock = FakeClock(datetime(2026, 10, 2, tzinfo=UTC))
    graph = graph_at(clock)
    apply(graph, Q4, objective("o"), key_result("k", "o", current=20))
    node = graph.objective("o")
    assert node is not None and node.status is Status.ON_TRACK
    clock.now = datetime(2026, 11, 16, tzinfo=UTC)
    changes = graph.reassess_statuses()
    assert (changes["o"].status_before, changes["o"].status) == (Status.ON_TRACK,
                                                                 Status.OFF_TRACK)
    assert graph.reassess_statuses() == {}
    longer = replace(Q4, version=2, ends_on=date(2027, 2, 7))
    assert graph.upsert_cycle(longer)["o"].status is Status.AT_RISK
    assert graph.upsert_cycle(Q4) == {}  # an older version of the cycle changes nothing
