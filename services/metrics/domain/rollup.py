"""The goal graph of the metrics read model, rolled up incrementally.

Operations mirror the events of ``okr.goals.v1``:

==========================================================  =========================
event                                                       operation
==========================================================  =========================
``objective.created`` / ``objective.updated``               ``upsert_objective``
``objective.deleted``                                       ``remove_objective``
``key_result.created`` / ``updated`` / ``checked_in``       ``upsert_key_result``
``key_result.deleted``                                      ``remove_key_result``
``contribution.added`` / ``contribution.removed``           ``add_contribution`` /
                                                            ``remove_contribution``
``cycle.created`` / ``cycle.updated``                       ``upsert_cycle``
==========================================================  =========================

Duplicated and out-of-order events are harmless: an upsert applies only when its version
is newer than the one held and than the item's tombstone; a removal applies unless the
item held is newer, and leaves a tombstone with its version so a late, older upsert cannot
bring the item back. Items may arrive before the items they refer to: a key result before
its objective, a contribution before either end. Whatever is missing counts as no data
until it arrives. A contribution that would close a cycle (possible while removals are
still on their way) waits, inactive, until removals open the cycle again.

Each node keeps running sums of its inputs' figures and each parent holds exactly what its
children last passed up. When a node's figures change, the difference goes into each
parent's sums, and only the parents whose own figures change go further up. One check-in
therefore costs the number of its ancestors times their parents per node, never the
number of siblings or the size of the graph.

Every operation returns the objectives whose progress or status it changed.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from services.metrics.domain.forecast import merged
from services.metrics.domain.goal_items import (
    Aggregation,
    ContributionState,
    CycleState,
    InvalidGoalItem,
    ItemType,
    KeyResultState,
    ObjectiveState,
)
from services.metrics.domain.graph import (
    NO_SIGNAL,
    ContributionEdge,
    KeyResultNode,
    KeyResultTable,
    LoadedKeyResult,
    ObjectiveNode,
    Signal,
    Window,
)
from services.metrics.domain.progress import WeightedSum
from services.metrics.domain.snapshot import KeyResultFigures, ObjectiveFigures, RollupSnapshot
from services.metrics.domain.status import (
    CycleWindow,
    Status,
    StatusThresholds,
    expected_progress,
    status_of,
)
from shared.clock import Clock, system_clock

Node = ObjectiveNode | KeyResultNode


@dataclass(frozen=True, slots=True)
class ObjectiveChange:
    """An objective's progress or status before and after one operation (None: no data)."""

    objective_id: str
    progress_before: float | None
    progress: float | None
    status_before: Status | None
    status: Status | None

    @property
    def progress_changed(self) -> bool:
        return self.progress_before != self.progress

    @property
    def status_changed(self) -> bool:
        return self.status_before != self.status


Changes = dict[str, ObjectiveChange]
_STATUS_VALUES = frozenset(status.value for status in Status)


class RollupGraph:
    def __init__(self, thresholds: StatusThresholds | None = None,
                 clock: Clock = system_clock, keep_check_ins: bool = True,
                 keep_titles: bool = True, keep_windows: bool = True) -> None:
        self.thresholds = thresholds or StatusThresholds()
        self.keep_check_ins = keep_check_ins  # each key result's window (forecast.py)
        # Key results' windows: every one held, or (``keep_windows`` off: the consumer,
        # whose read model holds them) those read for a batch (``hold_windows``) and
        # those changed since ``windows_written``; the pace of each is held either way.
        self.keep_windows = keep_windows
        # Key results' titles, by id: every one held, or (``keep_titles`` off: the
        # consumer, whose read model holds them) those defined since ``titles_written``.
        self.keep_titles = keep_titles
        self._titles: dict[str, str] = {}
        self._clock = clock
        self.now = clock()  # the time statuses were last judged at
        self._objectives: dict[str, ObjectiveNode] = {}
        self._table = KeyResultTable(every_window=keep_windows)
        # the numbers of the key results of each objective (an array: no int object each)
        self._key_results_of: dict[str, array[int]] = {}
        self._contributions: dict[str, ContributionEdge] = {}
        self._edges_up: dict[str, list[ContributionEdge]] = {}  # active edges, by child id
        self._edges_down: dict[str, list[ContributionEdge]] = {}  # active edges, by parent id
        self._waiting: dict[str, ContributionEdge] = {}  # edges that would close a cycle
        self._cycles: dict[str, tuple[int, CycleWindow]] = {}
        self._removed: dict[type, dict[str, int]] = {
            ObjectiveNode: {}, KeyResultNode: {}, ContributionEdge: {}}
        self._pending: list[Node] = []
        self._before: dict[str, tuple[float | None, Status | None]] = {}
        self._expected: dict[str, float | None] = {}  # by cycle key, for ``now``
        # Ids whose figures were recomputed (or which left) since ``take_touched``: what a
        # read model has to write again.
        self._touched_objectives: set[str] = set()
        self._touched_key_results: set[str] = set()
        # Ids whose explanation item changed without a recomputation of their figures (an
        # input came or went; a key result's objective or cycle changed): with the touched
        # ones, what a cache of explanations has to forget (``take_reshaped``).
        self._reshaped_objectives: set[str] = set()
        self._reshaped_key_results: set[str] = set()

    # -- operations ---------------------------------------------------------------------

    def upsert_cycle(self, state: CycleState) -> Changes:
        self._begin()
        held = self._cycles.get(state.key)
        if held is None or state.version > held[0]:
            self._cycles[state.key] = (state.version, CycleWindow(state.starts_on, state.ends_on))
            self._expected.pop(state.key, None)
            members = [o for o in self._objectives.values() if o.cycle == state.key]
            self._pending.extend(members)
            for objective in members:  # their key results' cycle start moved
                self._reshape_key_results_of(objective.id)
        return self._finish()

    def upsert_objective(self, state: ObjectiveState) -> Changes:
        self._begin()
        node = self._objectives.get(state.id)
        if self._is_newer(ObjectiveNode, state.id, state.version, node):
            if node is None:
                node = self._objectives[state.id] = ObjectiveNode(state)
                objective_ids = self._table.objective_ids
                for number in self._key_results_of.get(node.id, ()):
                    objective_ids[number] = node.id  # one copy of the id (memory)
                self._gather_inputs(node)
                self._reshape_parents(node)
                self._reshape_key_results_of(node.id)
            else:
                if (node.departments, node.cycle) != (state.departments, state.cycle):
                    self._reshape_key_results_of(node.id)
                node.define(state)
            self._pending.append(node)
        return self._finish()

    def remove_objective(self, objective_id: str, version: int) -> Changes:
        """Remove the objective alone: its key results and edges have removals of their own."""
        self._begin()
        node = self._objectives.get(objective_id)
        if self._accept_removal(ObjectiveNode, objective_id, version, node) and node:
            self._retire(node)
            del self._objectives[objective_id]
        return self._finish()

    def upsert_key_result(self, state: KeyResultState) -> Changes:
        self._begin()
        node = self.key_result(state.id)
        if self._is_newer(KeyResultNode, state.id, state.version, node):
            if node is None:
                number = self._table.add(state)
                node = KeyResultNode(self._table, number)
                self._hold_objective_id(node)
                self._join(node.objective_id, number)
                self._gather_inputs(node)
                self._reshape_parents(node)
            else:
                self._redefine(node, state)
                self._hold_objective_id(node)
            self._titles[state.id] = state.title
            self._pending.append(node)
        if node is not None:
            # even a stale copy says when a value was checked in: the window takes it
            self._observe_state(node, state)
        return self._finish()

    def observe(self, state: KeyResultState) -> None:
        """Only the check-in a key-result state carries, into the window of the key result
        held (``forecast.merged``), without rolling the state up: for a state that a newer
        one replaces (the consumer rolls up only the newest of a batch), so the window
        still sees every state, as :meth:`upsert_key_result` would have shown it."""
        node = self.key_result(state.id)
        if node is not None:
            self._observe_state(node, state)

    def record_check_in(self, key_result_id: str, version: int, value: float,
                        confidence: float | None, at: float | None) -> Changes:
        """A new value for a key result already known; else ignored (upsert it instead)."""
        if not math.isfinite(value):
            raise InvalidGoalItem("a checked-in value must be a finite number")
        if confidence is not None and not 0.0 <= confidence <= 1.0:
            raise InvalidGoalItem("confidence must be between 0 and 1")
        if at is not None and not math.isfinite(at):
            raise InvalidGoalItem("a check-in time must be a finite number")
        self._begin()
        node = self.key_result(key_result_id)
        if node is not None and version > node.version:
            node.version = version
            node.check_in(float(value), at)
            if confidence is not None:
                node.given_confidence = confidence
            self._pending.append(node)
        if node is not None and at is not None and not node.sums:
            self._observe(node, at, float(value), version)
        return self._finish()

    def remove_key_result(self, key_result_id: str, version: int) -> Changes:
        self._begin()
        node = self.key_result(key_result_id)
        if self._accept_removal(KeyResultNode, key_result_id, version, node) and node:
            self._retire(node)
            self._forget_membership(node, node.objective_id)
            self._table.free(node.number)
            self._titles.pop(key_result_id, None)
        return self._finish()

    def add_contribution(self, state: ContributionState) -> Changes:
        self._begin()
        held = self._contributions.get(state.id)
        if self._is_newer(ContributionEdge, state.id, state.version, held):
            if held is not None:
                self._disconnect(held)
            edge = self._contributions[state.id] = ContributionEdge(state)
            if self._closes_a_cycle(edge):
                self._waiting[edge.id] = edge
            else:
                self._connect(edge)
            self._wake_waiting_edges()
        return self._finish()

    def remove_contribution(self, contribution_id: str, version: int) -> Changes:
        self._begin()
        held = self._contributions.get(contribution_id)
        if self._accept_removal(ContributionEdge, contribution_id, version, held) and held:
            self._disconnect(held)
            self._wake_waiting_edges()
        return self._finish()

    def reassess_statuses(self) -> Changes:
        """Judge every objective again at the clock's time: statuses move as time passes."""
        self._begin()
        self._pending.extend(self._objectives.values())
        return self._finish()

    def _hold_objective_id(self, node: KeyResultNode) -> None:
        """The key result holds its objective's own id object: one copy per objective,
        not one per key result (a million key results, ~80 bytes each)."""
        own = self._objectives.get(node.objective_id)
        if own is not None:
            node.objective_id = own.id

    def _observe_state(self, node: KeyResultNode, state: KeyResultState) -> None:
        """The check-in a state carries, if it has one and sums nothing (a summing key
        result's value comes from its contributors). The state's own aggregation decides,
        not the node's, so the window depends on the states alone, whatever their order."""
        if _carries_check_in(state):
            assert state.last_checkin_at is not None and state.current is not None
            self._observe(node, state.last_checkin_at, state.current, state.version)

    def _observe(self, node: KeyResultNode, at: float, value: float, version: int) -> None:
        """Add a check-in to the node's window (``forecast.merged``); a key result whose
        window changed is touched, so its row is written again."""
        if not self.keep_check_ins:
            return
        window = merged(node.history, at, value, version)
        if window is not None:
            node.keep_window(window)
            self._touched_key_results.add(node.id)

    # -- windows read for a batch ---------------------------------------------------------
    #
    # A graph that does not keep every window (the consumer's: a million windows of twelve
    # check-ins are ~300 MiB) holds the pace of each, and the windows of a batch: before
    # it, those its states will check in are read from the read model (``windows_wanted``,
    # ``hold_windows``); once it is written, they are let go (``windows_written``).

    def windows_wanted(self, states: Iterable[KeyResultState]) -> set[str]:
        """The ids of the key results held whose windows these states would check in to
        and which are not on hand (none if the graph keeps every window)."""
        if self.keep_windows or not self.keep_check_ins:
            return set()
        wanted = set()
        for state in states:
            if _carries_check_in(state):
                node = self.key_result(state.id)
                if node is not None and not node.window_held:
                    wanted.add(state.id)
        return wanted

    def hold_windows(self, windows: Mapping[str, Window]) -> None:
        """Windows as the read model holds them (by key result id; a key result with no
        window: none or ``()``), for the key results held that are not on hand. Each
        takes its key result's latest check-in if it lacks it (a row written before
        windows were kept), as that check-in's state would have given it."""
        for key_result_id, window in windows.items():
            node = self.key_result(key_result_id)
            if node is None or node.window_held:
                continue
            node.hold_window(window)
            at = node.last_checkin_at
            if self.keep_check_ins and at is not None and not node.sums:
                moved = merged(window, at, node.checked_in, node.version)
                if moved is not None:
                    node.keep_window(moved)

    def windows_written(self) -> None:
        """The windows on hand are in the read model: a graph that does not keep every
        window lets them go (their paces stay)."""
        self._table.forget_windows()

    # -- a load ---------------------------------------------------------------------------
    #
    # A read model loaded back (the consumer's start) adds every item once, newest versions
    # only, in a known order: cycles, objectives, key results, then contributions and
    # removals. The objectives and key results, nearly all of it, are added in bulk: each
    # key result's figures computed and folded into its objective's sums as the roll-up
    # would, and each objective figured once at the end (``settle_load``) rather than
    # once for each of its key results. Contributions and removals then go through the
    # ordinary operations. The figures and sums come out as the operations would leave
    # them: every sum is exact, so the order of its inputs does not matter.

    def load_objective(self, state: ObjectiveState) -> None:
        """An objective of a load, before any key result: held with no figures until
        :meth:`settle_load`."""
        if self._table.ids.held or self._contributions or any(self._removed.values()):
            raise ValueError("a load adds its objectives first")
        if state.id in self._objectives:
            raise ValueError(f"objective {state.id} loaded twice")
        self._objectives[state.id] = ObjectiveNode(state)

    def load_key_results(self, rows: Sequence[LoadedKeyResult],
                         titles: Sequence[str] | None = None) -> None:
        """Key results of a load, after its objectives, before any contribution or removal
        (``titles``: theirs, kept if the graph keeps titles). A load reads no windows, so
        only a graph that does not keep every window is loaded."""
        if self._contributions or any(self._removed.values()):
            raise ValueError("a load adds its key results before contributions and removals")
        if self.keep_windows:
            raise ValueError("a graph that keeps every window is built by its operations")
        table = self._table
        first = table.load(rows)
        objectives = self._objectives
        objective_ids, weights = table.objective_ids, table.weights
        progresses, confidences = table.progresses, table.confidences
        for number in range(first, first + len(rows)):
            objective = objectives.get(objective_ids[number])
            if objective is not None:
                objective_ids[number] = objective.id  # one copy of the id (memory)
                weight = weights[number]
                objective.progress_inputs.shift(weight, progresses[number], +1)
                confidence = confidences[number]
                if confidence == confidence:  # not NaN: one was given
                    objective.confidence_inputs.shift(weight, confidence, +1)
            self._join(objective_ids[number], number)
        if titles is not None and self.keep_titles:
            self._titles.update(zip((row[0] for row in rows), titles, strict=True))

    def settle_load(self) -> None:
        """The objectives loaded, figured from their key results (see ``load_objective``):
        as ``_refresh`` figures them, without recording what moved (nothing was there)."""
        if self._contributions:
            raise ValueError("a load settles its objectives before its contributions")
        self._begin()
        for node in self._objectives.values():
            node.progress = node.progress_inputs.mean()
            node.confidence = node.confidence_inputs.mean()
            node.status = status_of(node.progress, self.expected_progress_of(node),
                                    node.confidence, self.thresholds)

    def restore_statuses(self, statuses: Mapping[str, str | None]) -> None:
        """Give the objectives held the statuses they were written with (by objective id;
        None: no status), whatever the load judged: :meth:`reassess_statuses` then moves
        those that time has moved since, as changes. A value that is no status is ignored."""
        for objective_id, value in statuses.items():
            node = self._objectives.get(objective_id)
            if node is not None and (value is None or value in _STATUS_VALUES):
                node.status = None if value is None else Status(value)

    def expect_key_results(self, count: int) -> None:
        """``count`` key results are about to be added (a load): room for them at once."""
        self._table.reserve(count)

    def title_of(self, key_result_id: str) -> str | None:
        """The title of a key result, if held (see ``keep_titles``)."""
        return self._titles.get(key_result_id)

    def titles_written(self) -> None:
        """The titles defined so far are in the read model: a graph that does not keep
        titles forgets them."""
        if not self.keep_titles:
            self._titles = {}

    def take_touched(self) -> tuple[set[str], set[str]]:
        """(objective ids, key result ids) recomputed or removed since the last call."""
        touched = self._touched_objectives, self._touched_key_results
        self._touched_objectives, self._touched_key_results = set(), set()
        return touched

    def take_reshaped(self) -> tuple[set[str], set[str]]:
        """(objective ids, key result ids) whose inputs, objective or cycle changed since
        the last call, beyond those :meth:`take_touched` tells: with those, every item
        whose explanation may have changed, but for its ancestors."""
        reshaped = self._reshaped_objectives, self._reshaped_key_results
        self._reshaped_objectives, self._reshaped_key_results = set(), set()
        return reshaped

    def _reshape(self, node: Node) -> None:
        if isinstance(node, ObjectiveNode):
            self._reshaped_objectives.add(node.id)
        else:
            self._reshaped_key_results.add(node.id)

    def _reshape_parents(self, node: Node) -> None:
        """The node came or goes: its parents' inputs change."""
        for _, parent in self._parents_of(node):
            self._reshape(parent)

    def _reshape_key_results_of(self, objective_id: str) -> None:
        """An objective's departments or cycle changed, or it came or went: its key
        results' explanation items name them."""
        ids = self._table.ids
        self._reshaped_key_results.update(
            ids[number] for number in self._key_results_of.get(objective_id, ()))

    # -- reading ------------------------------------------------------------------------

    def cycle(self, key: str) -> tuple[int, CycleWindow] | None:
        """(version, window) of a cycle held, or None."""
        return self._cycles.get(key)

    def objective(self, objective_id: str) -> ObjectiveNode | None:
        return self._objectives.get(objective_id)

    def key_result(self, key_result_id: str) -> KeyResultNode | None:
        number = self._table.ids.number(key_result_id)
        return None if number is None else KeyResultNode(self._table, number)

    def objectives(self) -> Iterable[ObjectiveNode]:
        return self._objectives.values()

    def key_results(self) -> Iterator[KeyResultNode]:
        table = self._table
        return (KeyResultNode(table, number) for number in table.ids.numbers())

    def key_results_of(self, objective_id: str) -> list[KeyResultNode]:
        table = self._table
        return [KeyResultNode(table, number)
                for number in self._key_results_of.get(objective_id, ())]

    def contribution(self, contribution_id: str) -> ContributionEdge | None:
        return self._contributions.get(contribution_id)

    def contributions(self) -> Iterable[ContributionEdge]:
        """Every contribution held; those with ``active`` False wait for a cycle to open."""
        return self._contributions.values()

    def inputs_of(self, node: Node) -> list[tuple[float, Node]]:
        """(weight, child) for every present child the node rolls up (counted or not)."""
        return list(self._inputs_of(node))

    def parents_of(self, node: Node) -> list[tuple[float, Node]]:
        """(weight, parent) for every present parent that rolls the node up."""
        return list(self._parents_of(node))

    def expected_progress_of(self, objective: ObjectiveNode) -> float | None:
        if objective.cycle not in self._expected:
            held = self._cycles.get(objective.cycle)
            self._expected[objective.cycle] = (None if held is None
                                               else expected_progress(held[1], self.now))
        return self._expected[objective.cycle]

    def snapshot(self) -> RollupSnapshot:
        return RollupSnapshot(
            objectives={o.id: ObjectiveFigures(o.progress, o.confidence, o.status)
                        for o in self._objectives.values()},
            key_results={k.id: KeyResultFigures(k.current, k.progress, k.confidence)
                         for k in self.key_results()})

    # -- versions -----------------------------------------------------------------------

    def removed_at(self, item_type: ItemType | None, item_id: str) -> int | None:
        """The version an objective (``ItemType.OBJECTIVE``), key result
        (``ItemType.KEY_RESULT``) or contribution (None) was removed at, if it was."""
        kind = (ContributionEdge if item_type is None else
                ObjectiveNode if item_type is ItemType.OBJECTIVE else KeyResultNode)
        return self._removed[kind].get(item_id)

    def _is_newer(self, kind: type, item_id: str, version: int,
                  held: Node | ContributionEdge | None) -> bool:
        newest = max(0 if held is None else held.version, self._removed[kind].get(item_id, 0))
        return version > newest

    def _accept_removal(self, kind: type, item_id: str, version: int,
                        held: Node | ContributionEdge | None) -> bool:
        if held is not None and held.version > version:
            return False
        tombstones = self._removed[kind]
        tombstones[item_id] = max(tombstones.get(item_id, 0), version)
        return True

    # -- structure ----------------------------------------------------------------------

    def _node(self, item_type: ItemType, item_id: str) -> Node | None:
        if item_type is ItemType.OBJECTIVE:
            return self._objectives.get(item_id)
        return self.key_result(item_id)

    def _inputs_of(self, node: Node) -> Iterator[tuple[float, Node]]:
        """(weight, child) for every present child whose figures the node rolls up."""
        if isinstance(node, ObjectiveNode):
            table = self._table
            for number in self._key_results_of.get(node.id, ()):
                yield table.weights[number], KeyResultNode(table, number)
            parent_type = ItemType.OBJECTIVE
        else:
            parent_type = ItemType.KEY_RESULT
        for edge in self._edges_down.get(node.id, ()):
            child = self._node(edge.child_type, edge.child_id)
            if edge.parent_type is parent_type and child is not None:
                yield edge.weight, child

    def _parents_of(self, node: Node) -> Iterator[tuple[float, Node]]:
        """(weight, parent) for every present parent that rolls the node up."""
        if isinstance(node, KeyResultNode):
            own = self._objectives.get(node.objective_id)
            if own is not None:
                yield node.weight, own
            child_type = ItemType.KEY_RESULT
        else:
            child_type = ItemType.OBJECTIVE
        for edge in self._edges_up.get(node.id, ()):
            parent = self._node(edge.parent_type, edge.parent_id)
            if edge.child_type is child_type and parent is not None:
                yield edge.weight, parent

    def _gather_inputs(self, node: Node) -> None:
        if isinstance(node, ObjectiveNode):
            node.progress_inputs, node.confidence_inputs = WeightedSum(), WeightedSum()
        else:
            node.inputs = WeightedSum() if node.sums else None
        for weight, child in self._inputs_of(node):
            self._fold(node, weight, child.signal(), +1)

    def _redefine(self, node: KeyResultNode, state: KeyResultState) -> None:
        signal, objective_id, weight, sums = (node.signal(), node.objective_id, node.weight,
                                              node.sums)
        node.define(state)
        if (node.objective_id, node.weight) != (objective_id, weight):
            old = self._objectives.get(objective_id)
            if old is not None:
                self._fold(old, weight, signal, -1)
                self._pending.append(old)
            if node.objective_id != objective_id:
                self._forget_membership(node, objective_id)
                self._join(node.objective_id, node.number)
            new = self._objectives.get(node.objective_id)
            if new is not None:
                self._fold(new, node.weight, signal, +1)
                self._pending.append(new)
        if node.sums != sums:
            self._gather_inputs(node)

    def _join(self, objective_id: str, number: int) -> None:
        """Key result ``number`` is one of the objective's (in any order: what is read of
        an objective's key results is a set or an exact sum)."""
        members = self._key_results_of.get(objective_id)
        if members is None:
            members = self._key_results_of[objective_id] = array("i")
        self._table.positions[number] = len(members)
        members.append(number)

    def _forget_membership(self, node: KeyResultNode, objective_id: str) -> None:
        """Key result ``node`` is no longer one of the objective's: the last one takes its
        place."""
        members = self._key_results_of[objective_id]
        positions = self._table.positions
        position = positions[node.number]
        assert members[position] == node.number, "a key result is where it joined"
        last = members.pop()
        if last != node.number:
            members[position] = last
            positions[last] = position
        if not members:
            del self._key_results_of[objective_id]

    def _reshape_parent_of(self, edge: ContributionEdge) -> None:
        parents = (self._reshaped_objectives if edge.parent_type is ItemType.OBJECTIVE
                   else self._reshaped_key_results)
        parents.add(edge.parent_id)

    def _connect(self, edge: ContributionEdge) -> None:
        edge.active = True
        self._reshape_parent_of(edge)
        self._edges_up.setdefault(edge.child_id, []).append(edge)
        self._edges_down.setdefault(edge.parent_id, []).append(edge)
        self._fold_edge(edge, +1)

    def _disconnect(self, edge: ContributionEdge) -> None:
        del self._contributions[edge.id]
        if not edge.active:
            del self._waiting[edge.id]
            return
        self._reshape_parent_of(edge)
        self._fold_edge(edge, -1)
        for index, key in ((self._edges_up, edge.child_id), (self._edges_down, edge.parent_id)):
            edges = index[key]
            edges.remove(edge)
            if not edges:
                del index[key]
        edge.active = False

    def _fold_edge(self, edge: ContributionEdge, sign: int) -> None:
        parent = self._node(edge.parent_type, edge.parent_id)
        child = self._node(edge.child_type, edge.child_id)
        if parent is not None and child is not None:
            self._fold(parent, edge.weight, child.signal(), sign)
            self._pending.append(parent)

    def _closes_a_cycle(self, edge: ContributionEdge) -> bool:
        goal = (edge.child_type, edge.child_id)
        frontier, seen = [(edge.parent_type, edge.parent_id)], set()
        while frontier:
            item = frontier.pop()
            if item == goal:
                return True
            if item not in seen:
                seen.add(item)
                frontier.extend(self._parent_items(*item))
        return False

    def _parent_items(self, item_type: ItemType, item_id: str) -> Iterator[tuple[ItemType, str]]:
        for edge in self._edges_up.get(item_id, ()):
            if edge.child_type is item_type:
                yield edge.parent_type, edge.parent_id
        number = self._table.ids.number(item_id) if item_type is ItemType.KEY_RESULT else None
        if number is not None:
            yield ItemType.OBJECTIVE, self._table.objective_ids[number]

    def _wake_waiting_edges(self) -> None:
        for edge in list(self._waiting.values()):
            if not self._closes_a_cycle(edge):
                del self._waiting[edge.id]
                self._connect(edge)

    # -- roll-up ------------------------------------------------------------------------

    def _fold(self, parent: Node, weight: float, signal: Signal, sign: int) -> None:
        if isinstance(parent, ObjectiveNode):
            parent.progress_inputs.shift(weight, signal.progress, sign)
            parent.confidence_inputs.shift(weight, signal.confidence, sign)
        elif parent.inputs is not None:
            # A summing key result adds values up; the weight only says whether one counts.
            parent.inputs.shift(1.0 if weight > 0.0 else 0.0, signal.current, sign)

    def _pass_up(self, node: Node, before: Signal, after: Signal) -> None:
        # The sums are exact, so taking a value out and putting the same one back changes
        # nothing: only the inputs that moved are shifted (a check-in rarely moves the
        # confidence).
        for weight, parent in self._parents_of(node):
            if isinstance(parent, ObjectiveNode):
                moved = False
                if before.progress != after.progress:
                    parent.progress_inputs.shift(weight, before.progress, -1)
                    parent.progress_inputs.shift(weight, after.progress, +1)
                    moved = True
                if before.confidence != after.confidence:
                    parent.confidence_inputs.shift(weight, before.confidence, -1)
                    parent.confidence_inputs.shift(weight, after.confidence, +1)
                    moved = True
                if not moved:
                    continue
            elif before.current == after.current:
                continue
            else:
                self._fold(parent, weight, before, -1)
                self._fold(parent, weight, after, +1)
            self._pending.append(parent)

    def _refresh(self, node: Node) -> None:
        if isinstance(node, KeyResultNode):
            self._touched_key_results.add(node.id)
            node.refresh()
            return
        self._touched_objectives.add(node.id)
        self._before.setdefault(node.id, (node.progress, node.status))
        node.progress = node.progress_inputs.mean()
        node.confidence = node.confidence_inputs.mean()
        node.status = status_of(node.progress, self.expected_progress_of(node), node.confidence,
                                self.thresholds)

    def _retire(self, node: Node) -> None:
        before = node.signal()
        touched = (self._touched_objectives if isinstance(node, ObjectiveNode)
                   else self._touched_key_results)
        touched.add(node.id)
        if isinstance(node, ObjectiveNode):
            self._before.setdefault(node.id, (node.progress, node.status))
            node.progress = node.confidence = node.status = None
        else:
            node.current = node.progress = node.confidence = None
        self._reshape_parents(node)
        if isinstance(node, ObjectiveNode):
            self._reshape_key_results_of(node.id)
        self._pass_up(node, before, NO_SIGNAL)

    def _is_held(self, node: Node) -> bool:
        if isinstance(node, ObjectiveNode):
            return self._objectives.get(node.id) is node
        return self._table.ids.holds(node.number)  # a view of a row freed is not held

    def _begin(self) -> None:
        now = self._clock()
        if now != self.now:
            self.now, self._expected = now, {}
        self._before = {}

    def _finish(self) -> Changes:
        while self._pending:
            node = self._pending.pop()
            if self._is_held(node):
                before = node.signal()
                self._refresh(node)
                after = node.signal()
                if after != before:
                    self._pass_up(node, before, after)
        changes: Changes = {}
        for objective_id, (progress_before, status_before) in self._before.items():
            objective = self._objectives.get(objective_id)
            progress, status = ((None, None) if objective is None
                                else (objective.progress, objective.status))
            if (progress, status) != (progress_before, status_before):
                changes[objective_id] = ObjectiveChange(objective_id, progress_before, progress,
                                                        status_before, status)
        return changes


def _carries_check_in(state: KeyResultState) -> bool:
    """Whether a state's check-in goes into its key result's window (``_observe_state``)."""
    return (state.last_checkin_at is not None and state.current is not None
            and state.aggregation is not Aggregation.SUM)
