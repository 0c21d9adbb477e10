"""The roll-up projection: goal events into the in-memory graph and the read model.

One process (one active replica) holds the whole :class:`RollupGraph` but for the key
results' titles and check-in windows, which the read model holds: a batch reads the
windows of the key results it checks in (one query), and writes them back with their rows.
Each consumed batch is applied to the graph and written in the consumer's transaction:
only the items it changed, in multi-row statements, with the roll-up events in this
service's outbox. If that transaction does not commit, the graph is loaded again from the
database, so memory never holds what the database does not.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from services.metrics.domain.explain import Kept
from services.metrics.domain.explain_graph import (
    MEMO_ITEMS,
    GraphItems,
    LinkIndex,
    kept_in_graph,
    outlooks_moved,
)
from services.metrics.domain.goal_items import (
    ContributionState,
    CycleState,
    KeyResultState,
    LinkState,
    ObjectiveState,
)
from services.metrics.domain.rollup import Changes, RollupGraph
from services.metrics.domain.status import StatusThresholds
from services.metrics.service_layer.goal_events import (
    DecodedEvent,
    Removal,
    decode,
    held_in,
    version_jumps,
)
from services.metrics.service_layer.rollup_events import RollupEvents
from services.metrics.service_layer.unit_of_work import ReadModel, UnitOfWork, UnitOfWorkFactory
from shared.clock import Clock, system_clock
from shared.cloudevents import CloudEvent
from shared.messaging.consumer import UnprocessableEvent, UnprocessableEvents
from shared.observability.metrics import HANDLED_ERRORS

log = logging.getLogger(__name__)

UNKNOWN_DEPARTMENT = "unknown"
UNKNOWN_CYCLE = "unknown"


@dataclass
class _Batch:
    """What one batch changed beyond the graph's own record of touched items."""

    contributions: set[str] = field(default_factory=set)
    cycles: set[str] = field(default_factory=set)
    removals: dict[tuple[str, str], int] = field(default_factory=dict)
    links: dict[str, LinkState] = field(default_factory=dict)
    links_gone: set[str] = field(default_factory=set)
    check_ins: dict[tuple[str, str], int] = field(default_factory=dict)  # (department, cycle)
    copies: set[str] = field(default_factory=set)  # ids of check-ins seen before: not counted
    # objective id -> (progress, status) before the batch, and the event that last moved it
    before: dict[str, tuple[float | None, str | None]] = field(default_factory=dict)
    causes: dict[str, str] = field(default_factory=dict)

    def note(self, changes: Changes, cause: str) -> None:
        for objective_id, change in changes.items():
            self.before.setdefault(objective_id, (
                change.progress_before,
                None if change.status_before is None else change.status_before.value))
            self.causes[objective_id] = cause


class RollupProjection:
    def __init__(self, units: UnitOfWorkFactory, events: RollupEvents,
                 thresholds: StatusThresholds | None = None,
                 clock: Clock = system_clock, forecasts: bool = True) -> None:
        self.units = units
        self.events = events
        self.thresholds = thresholds
        self.clock = clock
        self.forecasts = forecasts  # keep check-in windows (off: the benchmark's baseline)
        self.lock = threading.RLock()
        self.graph = RollupGraph(thresholds, clock, forecasts, keep_titles=False,
                                 keep_windows=False)
        self.links: dict[str, int] = {}  # link id -> version (negative: removed at)
        self.link_index = LinkIndex()  # the links held, by either end (dependencies)
        # the explained subtrees, kept across batches for the events' forecasts and whys
        self.explained = GraphItems(self.graph, MEMO_ITEMS)
        self._mutated = False

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """(Re)build the graph from the read model.

        The graph then lives as long as the process, so it is frozen (``gc.freeze``) with
        everything else alive at that moment: the cyclic collector's full passes, which
        otherwise walk every node again (millions of objects at a million key results),
        walk only what came after. What an earlier load froze is thawed first and
        collected once, so a graph that a reload replaced is not kept frozen. The collector
        is paused while the graph is built (it makes next to no garbage, and the passes
        the growing graph would set off cost ~7 % of a load at a million key results).
        """
        with self.lock:
            gc.unfreeze()
            started = time.perf_counter()
            graph = RollupGraph(self.thresholds, self.clock, self.forecasts,
                                keep_titles=False, keep_windows=False)
            collecting = gc.isenabled()
            gc.disable()
            try:
                with self.units(writes=False) as uow:
                    links = uow.read_model.load_graph(graph)
                    index = LinkIndex()
                    for link in uow.read_model.load_links():
                        index.put(link)
            finally:
                if collecting:
                    gc.enable()
            self.graph, self.links, self._mutated = graph, links, False
            self.link_index = index
            index.take_changed()
            self.explained = GraphItems(graph, MEMO_ITEMS)
            gc.collect()
            gc.freeze()
            log.info("graph loaded", extra={"seconds": round(time.perf_counter() - started, 3)})

    def rolled_back(self) -> None:
        """The consumer's transaction failed: forget what was applied in memory."""
        with self.lock:
            if self._mutated:
                log.warning("batch rolled back; reloading the graph from the database")
                self.load()

    # -- applying --------------------------------------------------------------------------

    def apply(self, events: list[CloudEvent], connection: Connection) -> None:
        """The consumer's batch handler: apply and write ``events`` in ``connection``'s
        transaction (the runner commits it). A malformed event, or one whose version the
        goals service could not have written, raises before anything is touched."""
        with self.units(connection) as uow:
            self.apply_in(uow, events)

    def apply_in(self, uow: UnitOfWork, events: list[CloudEvent]) -> None:
        """Apply ``events`` to the graph and write what they changed in ``uow``.

        The graph holds what was committed when this is called: a transaction that did not
        commit has been followed by :meth:`rolled_back` (the consumer runner and the
        rebuild both call it). So a call that raises before it touches the graph (an event
        that does not decode, a version the goals service could not have written) leaves
        nothing to reload: at a million key results a reload takes seconds, and finding a
        poison event in a batch fails several transactions."""
        with self.lock:
            self._mutated = False
        decoded, refused = [], {}
        for event in events:
            try:
                decoded.append(decode(event))
            except UnprocessableEvent as error:
                refused[event.id] = str(error)
        self.apply_decoded(uow, decoded, refused)

    def apply_decoded(self, uow: UnitOfWork, decoded: list[DecodedEvent],
                      refused: dict[str, str] | None = None) -> None:
        """:meth:`apply_in` of events decoded already (a rebuild decodes as it reads);
        ``refused``: events of the batch that did not decode, with why.

        Every event that breaks the contract is named at once, before anything is touched
        (:class:`UnprocessableEvents`): the consumer dead-letters those and applies the
        rest, so a batch made mostly of forged records costs two transactions."""
        with self.lock:
            self._mutated = False  # what was applied before has committed (see apply_in)
            refused = {**(refused or {}),
                       **version_jumps(decoded, held_in(self.graph, self.links))}
            if refused:
                raise UnprocessableEvents(refused)
            wanted = self.graph.windows_wanted(
                item.change for item in decoded if isinstance(item.change, KeyResultState))
            if wanted:
                self.graph.hold_windows(uow.read_model.windows_of(wanted))
            self._mutated = True
            batch = _Batch(copies=self._copied_check_ins(decoded))
            superseded = self._superseded(decoded)
            for position, item in enumerate(decoded):
                if position in superseded:
                    self._count_check_in(item, batch)
                    if isinstance(item.change, KeyResultState):
                        self.graph.observe(item.change)  # its check-in, for the window
                else:
                    self._apply_one(item, batch)
            self._write(uow, batch)

    def _superseded(self, decoded: list[DecodedEvent]) -> set[int]:
        """Positions of key-result states that a newer version later in the batch replaces.

        Check-ins arrive many per key result; only the newest state of a key result needs
        to be rolled up (versions decide, so the result is the same). Every superseded
        check-in is still counted, and its check-in still goes into the key result's window
        (``RollupGraph.observe``), so that a window does not depend on how the events were
        batched. The first state of a key result the graph does not hold yet is applied
        (it defines the key result, so the windows of the states after it have a node to
        go into); the states after it are superseded as a held key result's are.
        """
        # key result id -> (version, position); position -1: the defining state, kept
        newest: dict[str, tuple[int, int]] = {}
        skipped: set[int] = set()
        for position, item in enumerate(decoded):
            change = item.change
            if not isinstance(change, KeyResultState):
                continue
            held = newest.get(change.id)
            if held is None:
                newest[change.id] = (change.version, position
                                     if self.graph.key_result(change.id) is not None else -1)
            elif change.version > held[0]:
                if held[1] >= 0:
                    skipped.add(held[1])
                newest[change.id] = (change.version, position)
            else:
                skipped.add(position)  # older or equal: the graph would ignore it
        return skipped

    def _copied_check_ins(self, decoded: list[DecodedEvent]) -> set[str]:
        """Ids of the check-ins not newer than their key result's newest version before them
        (held, or earlier in the batch). The goals service writes each version once and
        its relay publishes an item's changes in order (one key, an idempotent producer),
        so such a check-in is a copy under another id (forged, or the same check-in again
        after its id's retention), not counted as a check-in again. Judged against the
        newest version before it in the topic, the count does not depend on how the
        events were batched (a rebuild counts as the live consumer did)."""
        copies: set[str] = set()
        newest: dict[str, int] = {}
        for item in decoded:
            change = item.change
            if not isinstance(change, KeyResultState):
                continue
            held = newest.get(change.id)
            if held is None:
                node = self.graph.key_result(change.id)
                held = 0 if node is None else node.version
            if item.is_check_in and change.version <= held:
                copies.add(item.event.id)
            newest[change.id] = max(held, change.version)
        return copies

    def _count_check_in(self, item: DecodedEvent, batch: _Batch) -> None:
        change = item.change
        if (item.is_check_in and isinstance(change, KeyResultState)
                and item.event.id not in batch.copies):
            objective = self.graph.objective(change.objective_id)
            # counted once for each owning department (a shared target's check-in is
            # activity of every owner), in the objective's cycle
            owners, cycle = ((objective.departments, objective.cycle) if objective is not None
                             else ((UNKNOWN_DEPARTMENT,), UNKNOWN_CYCLE))
            for department in owners:
                key = (department, cycle)
                batch.check_ins[key] = batch.check_ins.get(key, 0) + 1

    def _apply_one(self, item: DecodedEvent, batch: _Batch) -> None:
        graph, change, cause = self.graph, item.change, item.event.id
        self._count_check_in(item, batch)
        if isinstance(change, ObjectiveState):
            batch.note(graph.upsert_objective(change), cause)
        elif isinstance(change, KeyResultState):
            batch.note(graph.upsert_key_result(change), cause)
        elif isinstance(change, ContributionState):
            batch.contributions.add(change.id)
            batch.note(graph.add_contribution(change), cause)
        elif isinstance(change, CycleState):
            batch.cycles.add(change.key)
            batch.note(graph.upsert_cycle(change), cause)
        elif isinstance(change, LinkState):
            self._link(change, batch)
        elif isinstance(change, Removal):
            self._remove(change, batch, cause)

    def _remove(self, removal: Removal, batch: _Batch, cause: str) -> None:
        key = (removal.item_type, removal.item_id)
        batch.removals[key] = max(batch.removals.get(key, 0), removal.version)
        if removal.item_type == "objective":
            batch.note(self.graph.remove_objective(removal.item_id, removal.version), cause)
        elif removal.item_type == "key_result":
            batch.note(self.graph.remove_key_result(removal.item_id, removal.version), cause)
        elif removal.item_type == "contribution":
            batch.contributions.add(removal.item_id)
            batch.note(self.graph.remove_contribution(removal.item_id, removal.version), cause)
        else:
            held = self.links.get(removal.item_id)
            if held is None or abs(held) <= removal.version:
                self.links[removal.item_id] = -removal.version
                self.link_index.drop(removal.item_id)
                batch.links.pop(removal.item_id, None)
                batch.links_gone.add(removal.item_id)

    def _link(self, link: LinkState, batch: _Batch) -> None:
        held = self.links.get(link.id)
        if held is None or link.version > abs(held):
            self.links[link.id] = link.version
            self.link_index.put(link)
            batch.links[link.id] = link
            batch.links_gone.discard(link.id)

    def _write(self, uow: UnitOfWork, batch: _Batch) -> None:
        objective_ids, key_result_ids = self.graph.take_touched()
        reshaped_objectives, reshaped_key_results = self.graph.take_reshaped()
        linked = self.link_index.take_changed()  # ids whose links came or went
        changed_objectives = objective_ids | reshaped_objectives | linked
        changed_key_results = key_result_ids | reshaped_key_results | linked
        self.explained.forget(changed_objectives, changed_key_results)
        read_model = uow.read_model
        outlooks = self._outlooks(changed_objectives, changed_key_results, read_model)
        read_model.write_items(self.graph, objective_ids | outlooks.keys(), key_result_ids,
                               batch.contributions, batch.cycles, outlooks)
        self.graph.titles_written()
        self.graph.windows_written()
        read_model.write_removals(batch.removals)
        if batch.links_gone:
            read_model.delete_links(batch.links_gone)
        read_model.write_links(batch.links.values())
        read_model.add_check_ins(batch.check_ins)
        self.events.publish(uow, self.graph, batch.before, batch.causes, outlooks)

    def _outlooks(self, objective_ids: set[str], key_result_ids: set[str],
                  read_model: ReadModel) -> dict[str, Kept]:
        """What the outlook of each objective these changes may have moved is told from,
        written with its row (so the read model holds it for every objective, the roll-up
        list tells it without walking subtrees, and it is the events' forecast and why)."""
        if not self.forecasts:
            return {}
        graph = self.graph

        def title_of(key_result_id: str) -> str | None:  # a linked key result's
            title = graph.title_of(key_result_id)  # defined in this batch: not written yet
            return read_model.key_result_title(key_result_id) if title is None else title

        outlooks: dict[str, Kept] = {}
        for objective_id in outlooks_moved(graph, self.link_index, objective_ids,
                                           key_result_ids):
            self.explained.trim()
            kept = kept_in_graph(graph, self.explained, self.link_index, objective_id,
                                 title_of)
            if kept is not None:
                outlooks[objective_id] = kept
        return outlooks

    # -- time passing ----------------------------------------------------------------------

    def reassess(self) -> int:
        """Judge every status again at the current time; write and publish what moved.

        The transaction is begun before the lock is taken, as the consumer's batch does
        (the runner begins it, then :meth:`apply` takes the lock): in the other order, on
        SQLite, the tick held the lock waiting for the write lock that a batch held waiting
        for the lock, until the busy timeout failed the tick and stalled the batch. A tick
        whose transaction cannot begin has touched nothing: nothing is reloaded."""
        with self.units() as uow, self.lock:
            try:
                self._mutated = True
                changes = self.graph.reassess_statuses()
                self.graph.take_touched()  # figures other than status did not move
                self.explained.forget(changes, ())
                batch = _Batch()
                batch.note(changes, "")
                # a status names the dependencies at risk of the subtrees linked to it
                outlooks = self._outlooks(set(changes), set(), uow.read_model)
                uow.read_model.write_items(self.graph, set(changes) | outlooks.keys(),
                                           set(), set(), set(), outlooks)
                self.events.publish(uow, self.graph, batch.before, {}, outlooks)
                uow.commit()
            except Exception:
                self.rolled_back()
                raise
            self._mutated = False
            return len(changes)

    def run_status_ticks(self, interval: float) -> Callable[[threading.Event], None]:
        """A loop judging the statuses again every ``interval`` seconds. A tick the database
        cannot take now (locked, restarting, unreachable) is counted and tried at the next
        (the graph was reloaded: nothing of it is half applied); anything else stops it."""
        def loop(stop: threading.Event) -> None:
            while not stop.wait(interval):
                try:
                    moved = self.reassess()
                except OperationalError as error:
                    HANDLED_ERRORS.labels("metrics", "status_tick_failed").inc()
                    log.warning("status tick failed, trying again in %.0f s: %s", interval,
                                str(error).splitlines()[0])
                    continue
                if moved:
                    log.info("statuses reassessed", extra={"changed": moved})
        return loop
