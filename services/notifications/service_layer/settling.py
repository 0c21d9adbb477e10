"""Settled statuses in the service: watch each status change, announce what settled.

A status change is recorded in the objective's watch (``domain/settling.py``) by the
consumer's handler; the delivery loop announces, in one transaction each round, every
watch whose wait ended (rows claimed ``FOR UPDATE SKIP LOCKED``, so two workers never
announce the same one). The announcement's deliveries carry the id of the event that
began the settled status and the unique key (subscription, event) holds them once: what
is announced is announced exactly once, across restarts, because the wait is in the
database, not in memory.

A link (or key result) recorded after an alarm was announced makes the departments that
now depend on the objective hear that alarm too, with the same event id: the outcome does
not depend on whether the link or the status change came first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.notifications.domain.matching import SubscriptionIndex
from services.notifications.domain.notices import ALARMING_STATUSES, Notice
from services.notifications.domain.settling import Watch, observe, settle
from services.notifications.service_layer.dispatching import Dispatcher, Matched, refreshed
from services.notifications.service_layer.unit_of_work import (
    GoalReadModel,
    Statuses,
    UnitOfWork,
    UnitOfWorkFactory,
)

#: Watches announced per transaction of the settling loop.
SETTLE_BATCH = 100


class BatchWatches:
    """The status watches a batch of events touches: read (and locked) in one round trip
    at its start, written in one at its end (:meth:`save`)."""

    def __init__(self, statuses: Statuses, objective_ids: Iterable[str]) -> None:
        self.statuses = statuses
        self.known: set[str] = set(objective_ids)
        self.watches: dict[str, Watch] = statuses.watches(self.known)
        self.changed: dict[str, Watch] = {}

    def get(self, objective_id: str) -> Watch | None:
        if objective_id not in self.known:  # not foreseen: read it on its own
            self.known.add(objective_id)
            self.watches.update(self.statuses.watches([objective_id]))
        return self.watches.get(objective_id)

    def put(self, watch: Watch) -> None:
        self.watches[watch.objective_id] = watch
        self.changed[watch.objective_id] = watch

    def save(self) -> None:
        if self.changed:
            self.statuses.save_many(self.changed.values())
            self.changed.clear()


def observe_status(watches: BatchWatches, goals: GoalReadModel, index: SubscriptionIndex,
                   notice: Notice, now: datetime, settle_seconds: float) -> Matched:
    """Record a status change in its objective's watch; what settles now, matched."""
    watch, settled = observe(watches.get(notice.objective_id), notice, now, settle_seconds)
    if watch is None:
        return []  # older than the change already seen
    if watch.due_at is not None and watch.due_at <= now:  # no wait (settle_seconds 0)
        watch, held = settle(watch)
        settled.append(held)
    watches.put(watch)
    return [(current, index.match(current))
            for current in (refreshed(n, goals) for n in settled)]


def alarm_for_new_dependents(uow: UnitOfWork, watches: BatchWatches, goals: GoalReadModel,
                             index: SubscriptionIndex, objective_id: str) -> Matched:
    """The objective's announced alarm, for default subscriptions of departments that
    depend on it now and have not heard it (after a link or key result is recorded)."""
    watch = watches.get(objective_id)
    if (watch is None or watch.announced not in ALARMING_STATUSES
            or watch.announced_notice is None):
        return []
    notice = refreshed(watch.announced_notice, goals)
    heard = uow.deliveries.told_of(notice.event_id)
    hearing = [s for s in index.match(notice) if s.follows_defaults and s.id not in heard
               and s.department in notice.dependent_departments]
    return [(notice, hearing)] if hearing else []


def settle_due(units: UnitOfWorkFactory, dispatcher: Dispatcher, now: datetime,
               limit: int = SETTLE_BATCH) -> int:
    """Announce every status whose wait ended by ``now``; return how many."""
    with units() as uow:
        due = uow.statuses.claim_due(now, limit)
        if not due:
            return 0
        index = dispatcher.index(uow.subscriptions)
        matched: Matched = []
        settled_watches = []
        for watch in due:
            settled_watch, notice = settle(watch)
            settled_watches.append(settled_watch)
            current = refreshed(notice, uow.goals)
            matched.append((current, index.match(current)))
        uow.statuses.save_many(settled_watches)
        dispatcher.deliver(uow, matched, now, index)
        uow.commit()
    return len(due)
