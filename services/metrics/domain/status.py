"""Whether an objective is on track: expected progress from its cycle, and the status rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from services.metrics.domain.progress import settled


class Status(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"


@dataclass(frozen=True, slots=True)
class StatusThresholds:
    """The operator's thresholds for ``status_of``; the defaults suit a quarterly cycle.

    The gap is expected progress minus progress (positive when behind schedule). Each of
    the two signals is rated on its own and the status is the worse rating:

    - gap: ``<= on_track_gap`` on track, ``<= at_risk_gap`` at risk, larger is off track;
    - confidence: ``>= on_track_confidence`` on track, ``>= at_risk_confidence`` at risk,
      lower is off track; no confidence given yet rates as on track (it is not held
      against anyone).
    """

    on_track_gap: float = 0.10
    at_risk_gap: float = 0.25
    on_track_confidence: float = 0.5
    at_risk_confidence: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 <= self.on_track_gap <= self.at_risk_gap <= 1.0:
            raise ValueError("need 0 <= on_track_gap <= at_risk_gap <= 1")
        if not 0.0 <= self.at_risk_confidence <= self.on_track_confidence <= 1.0:
            raise ValueError("need 0 <= at_risk_confidence <= on_track_confidence <= 1")


@dataclass(frozen=True, slots=True)
class CycleWindow:
    """A cycle from the start of its first day to the end of its last day, in UTC."""

    starts_on: date
    ends_on: date

    def __post_init__(self) -> None:
        if self.ends_on < self.starts_on:
            raise ValueError("a cycle cannot end before it starts")


def expected_progress(cycle: CycleWindow, now: datetime) -> float:
    """The share of the cycle elapsed at ``now``, within [0, 1]; ``now`` naive is UTC.

    Total for every date a ``date`` holds: the cycle's end (midnight after its last day,
    which for 9999-12-31 is past ``datetime.max``) is counted in days, never built as a
    datetime, and a difference of two datetimes always fits a ``timedelta``.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    elapsed = now - datetime.combine(cycle.starts_on, time.min, UTC)
    length = timedelta(days=cycle.ends_on.toordinal() - cycle.starts_on.toordinal() + 1)
    return settled(min(1.0, max(0.0, elapsed / length)))


_RANK = (Status.ON_TRACK, Status.AT_RISK, Status.OFF_TRACK)


def status_of(progress: float | None, expected: float | None, confidence: float | None,
              thresholds: StatusThresholds) -> Status | None:
    """on_track / at_risk / off_track, or None when there is no progress or no cycle to judge."""
    if progress is None or expected is None:
        return None
    gap = settled(expected - progress)  # settled: 0.4 - 0.3 must not come out above 0.1
    if gap <= thresholds.on_track_gap:
        by_gap = Status.ON_TRACK
    elif gap <= thresholds.at_risk_gap:
        by_gap = Status.AT_RISK
    else:
        by_gap = Status.OFF_TRACK
    if confidence is None or confidence >= thresholds.on_track_confidence:
        by_confidence = Status.ON_TRACK
    elif confidence >= thresholds.at_risk_confidence:
        by_confidence = Status.AT_RISK
    else:
        by_confidence = Status.OFF_TRACK
    return max(by_gap, by_confidence, key=_RANK.index)
