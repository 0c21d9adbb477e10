"""Roll-up arithmetic: a key result's progress, and the running weighted mean of a parent.

Every figure here is finite for every finite input (any double the write side could store,
not only what its API allows today):

- attainment is reported within ``[-ATTAINMENT_LIMIT, ATTAINMENT_LIMIT]``: beyond that
  only a span near zero (start and target a few ulps apart) or a value far outside the
  span gets, and the sign is all such a figure still says. A difference of two values that
  overflows (``1e308 - -1e308``) is taken halved on both sides, so the share stays right;
- sums and weighted means are exact (rational) until the one rounding at the end, so
  weights of any size, values of mixed magnitude and any order of additions and
  removals give the same figure as a recomputation from scratch; a sum beyond the largest
  double is reported as the largest double of its sign (``FLOAT_LIMIT``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable

from services.metrics.domain.goal_items import Measure

DIGITS = 12
ATTAINMENT_LIMIT = 1e9  # 100,000,000,000 %
FLOAT_LIMIT = sys.float_info.max


def settled(value: float) -> float:
    """``value`` to 12 decimals, so float noise of running sums never reads as a change."""
    return round(value, DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0


def within(value: float, limit: float) -> float:
    """``value`` brought into ``[-limit, limit]`` (infinities included; NaN is not a value
    this module produces)."""
    return min(limit, max(-limit, value))


def attainment(measure: Measure, start: float, target: float, current: float) -> float:
    """Unclamped share of the way from start to target: 1.5 is 150 %, below 0 is backwards.

    Within ``[-ATTAINMENT_LIMIT, ATTAINMENT_LIMIT]``; ``start != target`` (the contract's
    rule) keeps the span from being zero, since the difference of two distinct doubles
    never is.
    """
    if measure is Measure.BOOLEAN:
        return 1.0 if current >= target else 0.0
    done, span = current - start, target - start
    if not (math.isfinite(done) and math.isfinite(span)):
        # Only values beyond 2**1021 in size overflow here: halving them is exact.
        done, span = current / 2 - start / 2, target / 2 - start / 2
    return settled(within(done / span, ATTAINMENT_LIMIT))


def sum_of(values: Iterable[float]) -> float:
    """``math.fsum(values)``, total over any finite doubles: when a partial sum overflows,
    the sum of the halves, doubled (which is infinite only when the total is)."""
    items = list(values)
    try:
        return math.fsum(items)
    except OverflowError:
        return math.fsum(value / 2 for value in items) * 2


def clamped(value: float) -> float:
    return min(1.0, max(0.0, value))


def reported(value: float | None) -> float | None:
    """A figure as the read side reports it (JSON, events, ``/metrics``): ``None`` (no data)
    unless finite. The arithmetic above yields only finite figures; this keeps a row
    written before it was total from reaching a client as ``NaN`` or ``Infinity``."""
    return value if value is not None and math.isfinite(value) else None


def ratio(numerator: int, denominator: int) -> float:
    """``numerator / denominator`` (``denominator > 0``) rounded to the nearest double, or
    the largest double of its sign when it lies beyond."""
    try:
        return numerator / denominator
    except OverflowError:
        return FLOAT_LIMIT if numerator > 0 else -FLOAT_LIMIT


_ONE = (1, 1)  # (1.0).as_integer_ratio(): most weights are 1


class WeightedSum:
    """Sum of weight * value over a parent's inputs, kept up to date by shifting one in or out.

    Inputs with weight 0 or without a value are left out, so an empty mean is ``None``
    (no data) rather than a made-up number. The sums are exact: integers counting units of
    ``2**-scale``, where ``scale`` grows to what the finest input needs (a double is an
    integer times a power of two, a product of two doubles too), so removing an input
    takes away exactly what adding it put in, and only the final division rounds.
    """

    __slots__ = ("count", "scale", "total", "weight")

    def __init__(self) -> None:
        self.total = 0  # sum of weight * value, in units of 2**-scale
        self.weight = 0  # sum of weights, in units of 2**-scale
        self.scale = 0
        self.count = 0

    def shift(self, weight: float, value: float | None, sign: int) -> None:
        if weight <= 0.0 or value is None:
            return
        self.count += sign
        if self.count == 0:
            self.total = self.weight = self.scale = 0  # exactly 0 anyway: start small again
            return
        # weight == weight_bits / weight_unit and value == value_bits / value_unit exactly,
        # the units being powers of two
        weight_bits, weight_unit = _ONE if weight == 1.0 else weight.as_integer_ratio()
        value_bits, value_unit = value.as_integer_ratio()
        needed = weight_unit.bit_length() + value_unit.bit_length() - 2
        if needed > self.scale:
            self.total <<= needed - self.scale
            self.weight <<= needed - self.scale
            self.scale = needed
        value_part = (weight_bits * value_bits) << (self.scale - needed)
        weight_part = weight_bits << (self.scale - weight_unit.bit_length() + 1)
        if sign > 0:
            self.total += value_part
            self.weight += weight_part
        else:
            self.total -= value_part
            self.weight -= weight_part

    def mean(self) -> float | None:
        """The weighted mean: it lies between the values, so it is as finite as they are."""
        if self.count == 0 or self.weight <= 0:
            return None
        return settled(self.total / self.weight)

    def sum(self) -> float | None:
        if self.count == 0:
            return None
        return settled(ratio(self.total, 1 << self.scale))
