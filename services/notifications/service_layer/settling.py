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

from datetime import datetime

from services.notifications.domain.matching import SubscriptionIndex
from services.notifications.domain.notices import ALARMING_STATUSES, Notice
from services.notifications.domain.settling import observe, settle
from services.notifications.service_layer.dispatching import Dispatcher, Matched, refreshed
from services.notifications.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory

#: Watches announced per transaction of the settling loop.
SETTLE_BATCH = 100


def observe_status(uow: UnitOfWork, index: SubscriptionIndex, notice: Notice,
                   now: datetime, settle_seconds: float) -> Matched:
    """Record a status change in its objective's watch; what settles now, matched."""
    watch, settled = observe(uow.statuses.watch(notice.objective_id), notice, now,
                             settle_seconds)
    if watch is None:
        return []  # older than the change already seen
    if watch.due_at is not None and watch.due_at <= now:  # no wait (settle_seconds 0)
        watch, held = settle(watch)
        settled.append(held)
    uow.statuses.save(watch)
    return [(current, index.match(current))
            for current in (refreshed(n, uow.goals) for n in settled)]


def alarm_for_new_dependents(uow: UnitOfWork, index: SubscriptionIndex,
                             objective_id: str) -> Matched:
    """The objective's announced alarm, for default subscriptions of departments that
    depend on it now and have not heard it (after a link or key result is recorded)."""
    watch = uow.statuses.watch(objective_id)
    if (watch is None or watch.announced not in ALARMING_STATUSES
            or watch.announced_notice is None):
        return []
    notice = refreshed(watch.announced_notice, uow.goals)
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
        for watch in due:
            settled_watch, notice = settle(watch)
            uow.statuses.save(settled_watch)
            current = refreshed(notice, uow.goals)
            matched.append((current, index.match(current)))
        dispatcher.deliver(uow, matched, now)
        uow.commit()
    return len(due)
