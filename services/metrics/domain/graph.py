"""The nodes and edges of the metrics read model, kept small: one slotted object per item.

A node holds its definition, its current figures and the running sums of its inputs; the
figures are what its parents have folded into their own sums (see ``rollup``).
"""

from __future__ import annotations

import math
from typing import NamedTuple, TypeVar

from services.metrics.domain.forecast import pace
from services.metrics.domain.goal_items import (
    Aggregation,
    ContributionState,
    ItemType,
    KeyResultState,
    Measure,
    ObjectiveKind,
    ObjectiveState,
)
from services.metrics.domain.progress import WeightedSum, attainment, clamped
from services.metrics.domain.status import Status


class Signal(NamedTuple):
    """What a node passes up: its value (key results only), progress and confidence."""

    current: float | None
    progress: float | None
    confidence: float | None


NO_SIGNAL = Signal(None, None, None)

# -- values that many nodes hold alike -----------------------------------------------------
#
# A million key results hold a handful of units, cycles, owning departments, starts,
# targets, weights and confidences between them. Decoded from a row or an event, each
# would be an object of its own (a float is 24 bytes, a short text about 50): each node
# holds one shared copy instead. Bounded, so values that hardly repeat are kept as they
# come once the tables are full.

SHARED_LIMIT = 4_096
_Text = TypeVar("_Text", str, tuple[str, ...])
_texts: dict[object, object] = {}
_numbers: dict[float, float] = {}
_ZERO = 0.0


def shared_text(value: _Text) -> _Text:
    """The one copy of a text (or a tuple of texts) held by the nodes."""
    held = _texts.get(value)
    if held is not None:
        return held  # type: ignore[return-value]  # equal to ``value``, so of its type
    if len(_texts) < SHARED_LIMIT:
        _texts[value] = value
    return value


def shared_number(value: float) -> float:
    """The one copy of a float held by the nodes (an int, or -0.0, is kept as it is:
    both are equal to a float key without being that float)."""
    if value.__class__ is not float:
        return value
    if value == 0.0:
        return _ZERO if math.copysign(1.0, value) > 0.0 else value
    held = _numbers.get(value)
    if held is not None:
        return held
    if len(_numbers) < SHARED_LIMIT:
        _numbers[value] = value
    return value


class ObjectiveNode:
    __slots__ = ("archived", "confidence", "confidence_inputs", "cycle", "departments", "id",
                 "kind", "owner", "progress", "progress_inputs", "status", "title",
                 "version")

    def __init__(self, state: ObjectiveState) -> None:
        self.id = state.id
        self.progress: float | None = None
        self.confidence: float | None = None
        self.status: Status | None = None
        self.progress_inputs = WeightedSum()
        self.confidence_inputs = WeightedSum()
        self.define(state)

    def define(self, state: ObjectiveState) -> None:
        self.version = state.version
        self.cycle = shared_text(state.cycle)
        self.kind: ObjectiveKind = state.kind
        self.departments = shared_text(state.departments)
        self.title = state.title
        self.owner = shared_text(state.owner)
        self.archived = state.archived

    def signal(self) -> Signal:
        return Signal(None, self.progress, self.confidence)


class _Unfitted:
    """The pace of a window not fitted yet (``KeyResultNode.pace`` fits it when asked)."""


UNFITTED = _Unfitted()


class KeyResultNode:
    __slots__ = ("_pace", "aggregation", "checked_in", "confidence", "current",
                 "given_confidence", "history", "id", "inputs", "last_checkin_at", "measure",
                 "objective_id", "progress", "start", "target", "title", "unit", "version",
                 "weight")

    def __init__(self, state: KeyResultState) -> None:
        self.id = state.id
        self.current: float | None = None
        self.progress: float | None = None
        self.confidence: float | None = None
        self.inputs: WeightedSum | None = None  # the contributors' values, if it sums them
        # the latest check-ins, oldest first (``forecast.merged``): what its pace is fitted to
        self.history: tuple[tuple[float, float, int], ...] = state.history
        self._pace: float | _Unfitted | None = UNFITTED
        self.define(state)

    def define(self, state: KeyResultState) -> None:
        self.version = state.version
        self.objective_id = state.objective_id
        self.measure: Measure = state.measure
        self.aggregation: Aggregation = state.aggregation
        self.start = shared_number(state.start)
        self.target = shared_number(state.target)
        self.weight = shared_number(state.weight)
        self.checked_in = self.start if state.current is None else state.current
        confidence = state.confidence  # the latest given; passed up on refresh
        self.given_confidence = None if confidence is None else shared_number(confidence)
        self.last_checkin_at = state.last_checkin_at
        self.title = state.title
        self.unit = shared_text(state.unit)

    def keep_window(self, window: tuple[tuple[float, float, int], ...]) -> None:
        self.history, self._pace = window, UNFITTED

    @property
    def pace(self) -> float | None:
        """Value per second over the window (``forecast.pace``), or None. Fitted when
        asked, once per window: a key result checked in many times in one batch is read
        (written, explained) once after it."""
        fitted = self._pace
        if isinstance(fitted, _Unfitted):
            fitted = self._pace = pace(self.history)
        return fitted

    @property
    def sums(self) -> bool:
        return self.aggregation is Aggregation.SUM

    def value(self) -> float:
        """The current value: checked in, or the sum of its contributors (start if none)."""
        if not self.sums:
            return self.checked_in
        total = None if self.inputs is None else self.inputs.sum()
        return self.start if total is None else total

    @property
    def attainment(self) -> float | None:
        if self.current is None:
            return None
        return attainment(self.measure, self.start, self.target, self.current)

    def refresh(self) -> None:
        self.current = self.value()
        self.confidence = self.given_confidence
        self.progress = clamped(attainment(self.measure, self.start, self.target,
                                           self.current))

    def signal(self) -> Signal:
        return Signal(self.current, self.progress, self.confidence)


class ContributionEdge:
    __slots__ = ("active", "child_id", "child_type", "id", "parent_id", "parent_type",
                 "version", "weight")

    def __init__(self, state: ContributionState) -> None:
        self.id = state.id
        self.version = state.version
        self.child_type: ItemType = state.child_type
        self.child_id = state.child_id
        self.parent_type: ItemType = state.parent_type
        self.parent_id = state.parent_id
        self.weight = state.weight
        self.active = False  # an edge that would close a cycle waits, inactive
