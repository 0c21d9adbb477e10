"""Roll-up arithmetic: a key result's progress, and the running weighted mean of a parent."""

from __future__ import annotations

from services.metrics.domain.goal_items import Measure

DIGITS = 12


def settled(value: float) -> float:
    """``value`` to 12 decimals, so float noise of running sums never reads as a change."""
    return round(value, DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0


def attainment(measure: Measure, start: float, target: float, current: float) -> float:
    """Unclamped share of the way from start to target: 1.5 is 150 %, below 0 is backwards."""
    if measure is Measure.BOOLEAN:
        return 1.0 if current >= target else 0.0
    return settled((current - start) / (target - start))


def clamped(value: float) -> float:
    return min(1.0, max(0.0, value))


class WeightedSum:
    """Sum of weight * value over a parent's inputs, kept up to date by shifting one in or out.

    Inputs with weight 0 or without a value are left out, so an empty mean is ``None``
    (no data) rather than a made-up number.
    """

    __slots__ = ("count", "total", "weight")

    def __init__(self) -> None:
        self.total = 0.0
        self.weight = 0.0
        self.count = 0

    def shift(self, weight: float, value: float | None, sign: int) -> None:
        if weight <= 0.0 or value is None:
            return
        self.count += sign
        if self.count == 0:
            self.total = self.weight = 0.0  # drop the float noise left by additions and removals
        else:
            self.total += sign * weight * value
            self.weight += sign * weight

    def mean(self) -> float | None:
        return None if self.count == 0 else settled(self.total / self.weight)

    def sum(self) -> float | None:
        return None if self.count == 0 else settled(self.total)
