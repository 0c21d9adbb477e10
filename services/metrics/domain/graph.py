"""The nodes and edges of the metrics read model, kept small: one slotted object per
objective and contribution, one row of arrays per key result (:class:`KeyResultTable`).

A node holds its definition, its current figures and the running sums of its inputs; the
figures are what its parents have folded into their own sums (see ``rollup``). A key
result's title is not held: the consumer writes it from the state that brought it
(``RollupGraph.take_titles``) and reads it from the read model when it names a key result.
Nor, in the consumer, is its window of check-ins (``forecast.merged``): only the pace
fitted to it; the windows of the key results a batch checks in are read for that batch
(``RollupGraph.hold_windows``) and written back with their rows.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import NamedTuple, TypeVar

from services.metrics.domain.forecast import CheckIn, pace
from services.metrics.domain.goal_items import (
    Aggregation,
    ContributionState,
    ItemType,
    KeyResultState,
    Measure,
    ObjectiveKind,
    ObjectiveState,
)
from services.metrics.domain.ids import IdColumn
from services.metrics.domain.progress import WeightedSum, attainment, clamped
from services.metrics.domain.status import Status


class Signal(NamedTuple):
    """What a node passes up: its value (key results only), progress and confidence."""

    current: float | None
    progress: float | None
    confidence: float | None


NO_SIGNAL = Signal(None, None, None)

# -- texts that many nodes hold alike ------------------------------------------------------
#
# A million key results hold a handful of units, cycles, owning departments and owners
# between them. Decoded from a row or an event, each would be an object of its own (a short
# text is about 50 bytes): each node holds one shared copy instead. Bounded, so texts that
# hardly repeat are kept as they come once the table is full.

SHARED_LIMIT = 4_096
_Text = TypeVar("_Text", str, tuple[str, ...])
_texts: dict[object, object] = {}


def shared_text(value: _Text) -> _Text:
    """The one copy of a text (or a tuple of texts) held by the nodes."""
    held = _texts.get(value)
    if held is not None:
        return held  # type: ignore[return-value]  # equal to ``value``, so of its type
    if len(_texts) < SHARED_LIMIT:
        _texts[value] = value
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


# -- key results: one row of arrays each ------------------------------------------------------
#
# A million key results as a million objects of 20 slots, each with its own floats, cost
# about 300 bytes apiece before their ids. The table keeps each field in an array by the
# key result's number instead (8 bytes a float, 1 a measure), and a node is a view of
# one row, made when asked for. A float field that may be absent holds NaN for None (the
# figures held are finite: the contract's rules and ``progress`` make them so).

_ABSENT = math.nan
_MEASURES = tuple(Measure)
_MEASURE_CODES = {measure: code for code, measure in enumerate(_MEASURES)}
_AGGREGATIONS = tuple(Aggregation)
_AGGREGATION_CODES = {aggregation: code for code, aggregation in enumerate(_AGGREGATIONS)}
_MEASURE_VALUE_CODES = {measure.value: code for code, measure in enumerate(_MEASURES)}
_AGGREGATION_VALUE_CODES = {aggregation.value: code
                            for code, aggregation in enumerate(_AGGREGATIONS)}
_SUM = _AGGREGATION_CODES[Aggregation.SUM]
#: A key result as a load reads it (``KeyResultTable.load``): id, version, objective id,
#: measure and aggregation (their values), start, target, weight, unit, the latest
#: checked-in value, the given confidence and the time of the latest check-in (each None:
#: none), and the pace of its window as written with it (None: none).
LoadedKeyResult = tuple[str, int, str, str, str, float, float, float, str, float | None,
                        float | None, float | None, float | None]
Window = tuple[CheckIn, ...]


class WindowNotRead(LookupError):
    """A key result's window was asked of a graph that holds only the windows read for
    the batch (``RollupGraph.hold_windows``), and it was not read: a caller's mistake."""


def _stored(value: float | None) -> float:
    return _ABSENT if value is None else value


def _held(value: float) -> float | None:
    return None if value != value else value  # NaN is the only value unequal to itself


class KeyResultTable:
    """Every key result's definition, figures and pace, by number, and the windows on hand
    (every window, or, ``every_window`` off, those read or changed since they were last
    written: ``RollupGraph.hold_windows``). A removed key result's number is given to the
    next one added (``free``)."""

    def __init__(self, every_window: bool = True) -> None:
        self.every_window = every_window
        self.ids = IdColumn()  # "": a free number; and the number of each id
        self.versions = array("q")
        # where each key result is in its objective's array of numbers (RollupGraph), so
        # that it leaves it in one step however many key results the objective has
        self.positions = array("i")
        self.objective_ids: list[str] = []
        self.measures = array("B")  # index into ``Measure``
        self.aggregations = array("B")  # index into ``Aggregation``
        self.starts = array("d")
        self.targets = array("d")
        self.weights = array("d")
        self.units: list[str] = []
        self.checked_in = array("d")
        self.given_confidences = array("d")  # NaN: none given
        self.last_checkins = array("d")  # NaN: never checked in
        self.currents = array("d")  # the figures last passed up (NaN: no data)
        self.progresses = array("d")
        self.confidences = array("d")
        # The pace of each window (NaN: none), fitted when asked (``unfitted``: the
        # windows on hand that changed since), and the windows on hand: the latest
        # check-ins, oldest first (``forecast.merged``), by number. A million windows of
        # twelve check-ins are ~300 MiB even packed: the consumer holds only a batch's.
        self.paces = array("d")
        self.windows: dict[int, Window] = {}
        self.unfitted: set[int] = set()
        self.inputs: dict[int, WeightedSum] = {}  # of the key results that sum contributors
        self._used = 0  # rows ever given out; those beyond are reserved
        self._free: list[int] = []  # the numbers of removed key results, given out again

    def add(self, state: KeyResultState) -> int:
        """A row for ``state`` (figures: no data yet); its number."""
        if self._free:
            number = self._free.pop()
        else:
            if self._used == len(self.ids):
                self.reserve(max(1, self._used // 16))  # each field grown at once, now and then
            number = self._used
            self._used += 1
        self.ids.put(number, state.id)
        self.currents[number] = self.progresses[number] = self.confidences[number] = _ABSENT
        node = KeyResultNode(self, number)
        node.define(state)
        node.keep_window(state.history)
        return number

    def reserve(self, count: int) -> None:
        """Room for ``count`` more rows, each field grown at once: an array grown a row at
        a time is copied again and again, and the copies it leaves behind are not always
        given back to the system (at a million rows, ~50 bytes a row)."""
        self.ids.extend(count)
        self.objective_ids.extend([""] * count)
        self.units.extend([""] * count)
        for codes in (self.versions, self.positions, self.measures, self.aggregations):
            codes.frombytes(bytes(codes.itemsize * count))
        absent = array("d", [_ABSENT]) * count
        for figures in (self.starts, self.targets, self.weights, self.checked_in,
                        self.given_confidences, self.last_checkins, self.currents,
                        self.progresses, self.confidences, self.paces):
            figures.extend(absent)

    def load(self, rows: Sequence[LoadedKeyResult]) -> int:
        """Rows for key results read back from a read model, each as :meth:`add` makes it
        and ``KeyResultNode.refresh`` then figures it with no contributors yet (a summing
        key result at its start): its definition, the pace of its window (the window is
        not loaded: :meth:`RollupGraph.hold_windows` reads it when a batch needs it), and
        its figures. Column by column, without a node or a state each. The first row's
        number."""
        count = len(rows)
        first = self.take_rows(count)
        if not count:
            return first
        end = first + count
        (ids, versions, objective_ids, measures, aggregations, starts, targets, weights, units,
         checked, confidences, ats, paces) = zip(*rows, strict=True)
        measure_codes = list(map(_MEASURE_VALUE_CODES.__getitem__, measures))
        aggregation_codes = list(map(_AGGREGATION_VALUE_CODES.__getitem__, aggregations))
        latest = [start if value is None else value
                  for start, value in zip(starts, checked, strict=True)]
        given = array("d", [_ABSENT if value is None else value for value in confidences])
        lasts = [_ABSENT if at is None else at for at in ats]
        # a summing key result's value is its contributors' sum: none yet, so its start
        values = [start if code == _SUM else value
                  for start, value, code in zip(starts, latest, aggregation_codes,
                                                strict=True)]
        self.ids.put_many(first, ids)
        self.versions[first:end] = array("q", versions)
        self.objective_ids[first:end] = objective_ids
        self.measures[first:end] = array("B", measure_codes)
        self.aggregations[first:end] = array("B", aggregation_codes)
        self.starts[first:end] = array("d", starts)
        self.targets[first:end] = array("d", targets)
        self.weights[first:end] = array("d", weights)
        self.units[first:end] = list(map(shared_text, units))
        self.checked_in[first:end] = array("d", latest)
        self.given_confidences[first:end] = given
        self.last_checkins[first:end] = array("d", lasts)
        self.currents[first:end] = array("d", values)
        self.confidences[first:end] = given
        self.progresses[first:end] = array("d", [
            clamped(attainment(_MEASURES[code], start, target, value))
            for code, start, target, value in zip(measure_codes, starts, targets, values,
                                                  strict=True)])
        self.paces[first:end] = array("d", [_ABSENT if fitted is None else fitted
                                            for fitted in paces])
        inputs = self.inputs
        for number, code in enumerate(aggregation_codes, first):
            if code == _SUM:
                inputs[number] = WeightedSum()
        return first

    def take_rows(self, count: int) -> int:
        """``count`` new rows at the end (a load), reserved if need be; the first's number.
        Their fields are the caller's to fill."""
        if self._used + count > len(self.ids):
            self.reserve(self._used + count - len(self.ids))
        first = self._used
        self._used += count
        return first

    def free(self, number: int) -> None:
        self.ids.clear(number)
        self.objective_ids[number] = ""
        self.paces[number] = _ABSENT
        self.windows.pop(number, None)
        self.unfitted.discard(number)
        self.inputs.pop(number, None)
        self._free.append(number)

    def forget_windows(self) -> None:
        """The windows on hand are written (their paces fitted): a table that does not
        hold every window lets them go."""
        for number in self.unfitted:
            self.paces[number] = _stored(pace(self.windows[number]))
        self.unfitted.clear()
        if not self.every_window:
            self.windows.clear()


class KeyResultNode:
    """One key result of a :class:`KeyResultTable` (a view of its row: two views of one
    row are equal)."""

    __slots__ = ("number", "table")

    def __init__(self, table: KeyResultTable, number: int) -> None:
        self.table = table
        self.number = number

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, KeyResultNode) and other.number == self.number
                and other.table is self.table)

    def __hash__(self) -> int:
        return hash(self.number)

    def define(self, state: KeyResultState) -> None:
        table, number = self.table, self.number
        current = state.start if state.current is None else state.current
        table.versions[number] = state.version
        table.objective_ids[number] = state.objective_id
        table.measures[number] = _MEASURE_CODES[state.measure]
        table.aggregations[number] = _AGGREGATION_CODES[state.aggregation]
        table.starts[number] = state.start
        table.targets[number] = state.target
        table.weights[number] = state.weight
        table.checked_in[number] = current
        table.given_confidences[number] = _stored(state.confidence)  # passed up on refresh
        table.last_checkins[number] = _stored(state.last_checkin_at)
        table.units[number] = shared_text(state.unit)

    # -- its definition and the latest check-in ---------------------------------------------

    @property
    def id(self) -> str:
        return self.table.ids[self.number]

    @property
    def version(self) -> int:
        return self.table.versions[self.number]

    @version.setter
    def version(self, version: int) -> None:
        self.table.versions[self.number] = version

    @property
    def objective_id(self) -> str:
        return self.table.objective_ids[self.number]

    @objective_id.setter
    def objective_id(self, objective_id: str) -> None:
        self.table.objective_ids[self.number] = objective_id

    @property
    def measure(self) -> Measure:
        return _MEASURES[self.table.measures[self.number]]

    @property
    def aggregation(self) -> Aggregation:
        return _AGGREGATIONS[self.table.aggregations[self.number]]

    @property
    def start(self) -> float:
        return self.table.starts[self.number]

    @property
    def target(self) -> float:
        return self.table.targets[self.number]

    @property
    def weight(self) -> float:
        return self.table.weights[self.number]

    @property
    def unit(self) -> str:
        return self.table.units[self.number]

    @property
    def checked_in(self) -> float:
        return self.table.checked_in[self.number]

    def check_in(self, value: float, at: float | None) -> None:
        """A new latest check-in (its window takes it apart: ``RollupGraph._observe``)."""
        self.table.checked_in[self.number] = value
        self.table.last_checkins[self.number] = _stored(at)

    @property
    def given_confidence(self) -> float | None:
        return _held(self.table.given_confidences[self.number])

    @given_confidence.setter
    def given_confidence(self, confidence: float | None) -> None:
        self.table.given_confidences[self.number] = _stored(confidence)

    @property
    def last_checkin_at(self) -> float | None:
        return _held(self.table.last_checkins[self.number])


    @property
    def history(self) -> Window:
        """The window: the latest check-ins, oldest first (``forecast.merged``); raises
        :class:`WindowNotRead` if the table holds only the windows read and not this one."""
        table, number = self.table, self.number
        window = table.windows.get(number)
        if window is None:
            if not table.every_window:
                raise WindowNotRead(f"the window of key result {self.id} was not read")
            return ()
        return window

    @property
    def window_held(self) -> bool:
        """Whether :attr:`history` can be told (the window is on hand)."""
        return self.table.every_window or self.number in self.table.windows

    def keep_window(self, window: Window) -> None:
        """A new window (its pace is fitted when asked)."""
        self.table.windows[self.number] = window
        self.table.unfitted.add(self.number)

    def hold_window(self, window: Window) -> None:
        """The window as written with the pace held (read back: the pace stands)."""
        self.table.windows[self.number] = window

    @property
    def pace(self) -> float | None:
        """Value per second over the window (``forecast.pace``), or None; fitted when asked
        after the window changed (a consumer asks once a batch, when it writes the key
        result or explains it), else as held (loaded, or fitted before)."""
        table, number = self.table, self.number
        if number in table.unfitted:
            table.paces[number] = _stored(pace(table.windows[number]))
            table.unfitted.discard(number)
        return _held(table.paces[number])

    @property
    def sums(self) -> bool:
        return self.table.aggregations[self.number] == _SUM

    # -- its figures ---------------------------------------------------------------------

    @property
    def inputs(self) -> WeightedSum | None:
        """The contributors' values, if it sums them."""
        return self.table.inputs.get(self.number)

    @inputs.setter
    def inputs(self, inputs: WeightedSum | None) -> None:
        if inputs is None:
            self.table.inputs.pop(self.number, None)
        else:
            self.table.inputs[self.number] = inputs

    @property
    def current(self) -> float | None:
        return _held(self.table.currents[self.number])

    @current.setter
    def current(self, value: float | None) -> None:
        self.table.currents[self.number] = _stored(value)

    @property
    def progress(self) -> float | None:
        return _held(self.table.progresses[self.number])

    @progress.setter
    def progress(self, progress: float | None) -> None:
        self.table.progresses[self.number] = _stored(progress)

    @property
    def confidence(self) -> float | None:
        return _held(self.table.confidences[self.number])

    @confidence.setter
    def confidence(self, confidence: float | None) -> None:
        self.table.confidences[self.number] = _stored(confidence)

    def value(self) -> float:
        """The current value: checked in, or the sum of its contributors (start if none)."""
        if not self.sums:
            return self.checked_in
        inputs = self.inputs
        total = None if inputs is None else inputs.sum()
        return self.start if total is None else total

    @property
    def attainment(self) -> float | None:
        current = self.current
        if current is None:
            return None
        return attainment(self.measure, self.start, self.target, current)

    def refresh(self) -> None:
        table, number = self.table, self.number
        current = self.value()
        table.currents[number] = current
        table.confidences[number] = table.given_confidences[number]
        table.progresses[number] = clamped(attainment(
            _MEASURES[table.measures[number]], table.starts[number], table.targets[number],
            current))

    def signal(self) -> Signal:
        table, number = self.table, self.number
        return Signal(_held(table.currents[number]), _held(table.progresses[number]),
                      _held(table.confidences[number]))


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
