"""The pace of a key result from its recent check-ins, and lines that roll up like progress.

A key result keeps its last :data:`WINDOW` check-ins (time, value, version), the newest by
time. The window is a function of the states seen alone: a check-in is identified by its
time, and at one time the value of the greatest key-result version holds (the goals
service writes a new version on every change, so the latest state of that time wins); a
state seen twice, or a later version repeating the same last check-in, counts once; and
neither the order the states arrived in nor how a consumer batched them changes what a
window holds. The window is bounded, so a check-in costs the same after a year of them.

The pace is the ordinary least-squares slope of value over time through the window.
Why least squares and not Theil-Sen: check-ins are sparse and mostly steady (a weekly
figure from a CRM or a person), the window is short, and a mistyped value is corrected by
the next check-in, which replaces it as the anchor (below) and soon leaves the window;
least squares uses every point of so short a history (Theil-Sen's median of pairwise
slopes throws most of them away), has a closed form, and a straight-line history gives
back exactly that line. Fewer than :data:`MIN_CHECK_INS` check-ins, or check-ins spanning
less than :data:`MIN_SPAN_SECONDS`, give no pace: no forecast rather than a made-up one.

With too short a history for that, a key result checked in at least a day after its
cycle began still has the cycle-to-date pace: from its start value at the cycle's start
(what a start value is: the baseline the cycle begins from) to its latest check-in.
With neither, there is no pace.

A :class:`Line` is anchored at the latest check-in (the value known for sure) and goes on
at that pace. Lines of several inputs combine exactly as the roll-up combines their
figures (a weighted mean, or a sum into a summing key result), and a weighted mean or a
sum of lines is again a line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from services.metrics.domain.progress import sum_of

WINDOW = 12
MIN_CHECK_INS = 3
MIN_SPAN_SECONDS = 86_400.0  # one day

CheckIn = tuple[float, float, int]  # (POSIX seconds, value, the key result's version)


def merged(window: Sequence[CheckIn], at: float, value: float, version: int
           ) -> tuple[CheckIn, ...] | None:
    """``window`` with the check-in ``(at, value)`` of key-result version ``version``, the
    newest :data:`WINDOW` by time; None if that changes nothing (already held, older than
    every check-in of a full window, or an older version of a time held).

    A check-in is identified by its time; at the same time the greatest version wins (equal
    versions, which the goals service never writes twice: the greater value), so the
    result depends on the set of check-ins merged, not on their order or grouping.
    """
    if not (math.isfinite(at) and math.isfinite(value)):
        return None
    # The window is ordered by time, its times distinct: most check-ins are the newest
    # (appended) or the newest again (replaced), which the general case below gives too.
    if not window or at > window[-1][0]:
        return (*window, (at, value, version))[-WINDOW:]
    if at == window[-1][0]:
        if (version, value) <= (window[-1][2], window[-1][1]):
            return None
        return (*window[:-1], (at, value, version))
    for position, (held_at, held_value, held_version) in enumerate(window):
        if held_at == at:
            if (version, value) <= (held_version, held_value):
                return None
            return (*window[:position], (at, value, version), *window[position + 1:])
    if len(window) >= WINDOW and at < window[0][0]:
        return None
    return tuple(sorted((*window, (at, value, version))))[-WINDOW:]


def pace(window: Sequence[CheckIn]) -> float | None:
    """Least-squares slope of value per second over ``window``; None: too little history."""
    if len(window) < MIN_CHECK_INS or window[-1][0] - window[0][0] < MIN_SPAN_SECONDS:
        return None
    count = len(window)
    mean_at = sum_of(at for at, _, _ in window) / count
    mean_value = sum_of(value for _, value, _ in window) / count
    spread = sum_of((at - mean_at) ** 2 for at, _, _ in window)
    if spread <= 0.0:
        return None
    slope = sum_of((at - mean_at) * (value - mean_value) for at, value, _ in window) / spread
    return slope if math.isfinite(slope) else None


def cycle_to_date_pace(start: float, cycle_start: float | None, at: float,
                       value: float) -> float | None:
    """Value per second from ``start`` at ``cycle_start`` to ``value`` at ``at``; None
    unless ``at`` is at least :data:`MIN_SPAN_SECONDS` into the cycle."""
    if cycle_start is None or at - cycle_start < MIN_SPAN_SECONDS:
        return None
    slope = (value - start) / (at - cycle_start)
    return slope if math.isfinite(slope) else None


class Line(NamedTuple):
    """``value`` at time ``at`` (POSIX seconds), changing by ``slope`` per second."""

    at: float
    value: float
    slope: float

    def __call__(self, moment: float) -> float:
        return self.value + self.slope * (moment - self.at)

    def scaled(self, offset: float, factor: float) -> Line:
        """``(line - offset) * factor``: a value line as an attainment line."""
        return Line(self.at, (self.value - offset) * factor, self.slope * factor)


def weighted_mean(lines: Iterable[tuple[float, Line]]) -> Line | None:
    """The weighted mean of lines (weights > 0), anchored at the latest anchor; the sums are
    exactly rounded (``math.fsum``), so the order of the inputs does not matter."""
    items = list(lines)
    if not items:
        return None
    total = sum_of([weight for weight, _ in items])
    if total <= 0.0:
        return None
    at = max([line.at for _, line in items])
    value = sum_of([weight * line(at) for weight, line in items]) / total
    slope = sum_of([weight * line.slope for weight, line in items]) / total
    mean = Line(at, value, slope)
    return mean if finite(mean) else None


def summed(lines: Iterable[Line]) -> Line | None:
    items = list(lines)
    if not items:
        return None
    at = max([line.at for line in items])
    total = Line(at, sum_of([line(at) for line in items]), sum_of([line.slope for line in items]))
    return total if finite(total) else None


def finite(line: Line) -> bool:
    return math.isfinite(line.at) and math.isfinite(line.value) and math.isfinite(line.slope)
