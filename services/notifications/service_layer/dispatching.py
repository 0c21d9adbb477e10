"""Matched notices into deliveries: the hourly cap, the digests, and who was told of an alarm.

Used by the consumer's handler (a batch of events) and by the settling loop (statuses
whose wait ended), inside their unit of work. The recipients whose hourly cap a message
counts against are locked together, in one order, before any is counted, so workers never
deadlock on them and never exceed a cap together.

A status change goes into the digests as it happens; once it settles and is sent at once,
it leaves the digests that have not gone out yet (no message says it twice). A settled
``at_risk``/``off_track`` sent to a subscription (at once, or into its digest
when the cap was reached) is remembered; when the objective settles back ``on_track``,
every subscription told of the alarm hears of the recovery, once, whether or not its
rules would have let it hear an ``on_track``.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from services.notifications.domain.matching import SubscriptionIndex
from services.notifications.domain.notices import ALARMING_STATUSES, Notice
from services.notifications.domain.settling import settled_summary
from services.notifications.domain.subscriptions import DeliveryMode, Subscription
from services.notifications.domain.throttling import Route, route
from services.notifications.service_layer.unit_of_work import (
    GoalReadModel,
    Subscriptions,
    UnitOfWork,
)

Matched = list[tuple[Notice, list[Subscription]]]

#: Subscriptions from which a rebuilt index is frozen out of the cyclic collector's passes.
FROZEN_FROM = 1_000


class Dispatcher:
    """Keeps the subscription index until it is stale; turns matched notices into
    deliveries and digest items."""

    def __init__(self, hourly_cap: int) -> None:
        self.hourly_cap = hourly_cap
        self._index = SubscriptionIndex()
        self._revision = -1
        self._rebuilding = threading.Lock()  # the sending threads share one index

    def index(self, subscriptions: Subscriptions) -> SubscriptionIndex:
        """The index of every subscription, built again when their revision moved.

        The index lives until the subscriptions change, so an index of
        :data:`FROZEN_FROM` subscriptions or more is frozen once built (``gc.freeze``),
        with everything else alive at that moment, as the metrics projection freezes its
        graph: the cyclic collector's full passes, which the handler's allocations set
        off every batch or two, otherwise walk its objects (about six a subscription) and
        the process's imports again each time. What an earlier build froze is thawed
        first and collected, so an index that a rebuild replaced is not kept. A smaller
        index is left to the collector: its passes cost little, and the full collection
        a freeze needs would run at every rebuild (a test process rebuilds one for nearly
        every test).
        """
        revision = subscriptions.revision()
        if revision == self._revision:
            return self._index
        with self._rebuilding:
            if revision != self._revision:  # another thread may have built it meanwhile
                gc.unfreeze()
                self._index = SubscriptionIndex(subscriptions.all())
                self._revision = revision
                if len(self._index) >= FROZEN_FROM:
                    gc.collect()
                    gc.freeze()
            return self._index

    def deliver(self, uow: UnitOfWork, matched: Matched, now: datetime,
                index: SubscriptionIndex | None = None,
                new_events: frozenset[str] = frozenset()) -> None:
        """Record the deliveries and digest items of ``matched``, in order (``index``: the
        one this unit of work read already, if any; ``new_events``: the ids of the events
        this unit applies, so none of their digest items is in the database yet)."""
        if index is None:
            index = self.index(uow.subscriptions)
        # who was told of each settled change's objective: read in one round trip
        told = _ToldOf(uow, index, {n.objective_id for n, _ in matched
                                    if n.settled and n.status is not None})
        # those told before this unit, so that their recipients are locked and counted; a
        # settled change that no one hears is kept too: it may still end an alarm told
        # earlier in this unit (below), and an alarm that is over is forgotten
        matched = [(notice, told.add_recovering(notice, subscriptions))
                   for notice, subscriptions in matched]
        matched = [(notice, subscriptions) for notice, subscriptions in matched
                   if subscriptions or notice.settled]
        if not matched:
            return
        deliveries = uow.deliveries
        capped = {subscription.recipient for notice, subscriptions in matched
                  if not notice.routine for subscription in subscriptions}
        sent: dict[str, int] = {}
        if capped:  # routine changes only go into digests: no cap to count
            deliveries.lock_recipients(capped)
            sent = deliveries.immediate_since(capped, now - timedelta(hours=1))
        # written at the end, one statement each (not one round trip per notice); the
        # digest items as the notices, in order, leave them: an item a settled change
        # took out (sent at once) and added again later is added again
        immediate: list[tuple[str, str, str, Notice]] = []
        items: dict[tuple[str, str], tuple[str, Notice]] = {}
        dropped: list[tuple[str, str]] = []
        for notice, subscriptions in matched:
            # and those told by the notices before it in this unit (their recipients are
            # locked already: an alarm is never routine)
            subscriptions = told.add_recovering(notice, subscriptions)
            heard: list[Subscription] = []
            sent_now: list[str] = []
            for subscription in subscriptions:
                recipient = subscription.recipient
                decision = route(notice, subscription, sent.get(recipient, 0), self.hourly_cap)
                if decision is Route.IMMEDIATE:
                    sent[recipient] = sent.get(recipient, 0) + 1
                    immediate.append((subscription.id, recipient, subscription.channel.value,
                                      notice))
                    sent_now.append(subscription.id)
                    heard.append(subscription)
                elif (notice.settled and decision is Route.DIGEST
                      and subscription.mode is DeliveryMode.DIGEST):
                    continue  # its digest already holds the change as it happened
                else:
                    items.setdefault((subscription.id, notice.event_id),
                                     (subscription.id, notice))
                    heard.append(subscription)
            if notice.settled:  # sent at once: its digest need not repeat it
                stored = notice.event_id not in new_events  # an item of it may be stored
                for subscription_id in sent_now:
                    key = (subscription_id, notice.event_id)
                    items.pop(key, None)
                    if stored:
                        dropped.append(key)
            told.heard(notice, heard)
        deliveries.drop_digest_items_of(dropped)
        deliveries.record(immediate, list(items.values()), now)
        told.save(now)


class _ToldOf:
    """Who was told of each objective's alarm, as this batch goes (saved at its end)."""

    def __init__(self, uow: UnitOfWork, index: SubscriptionIndex,
                 recovering: Iterable[str]) -> None:
        self.uow = uow
        self.index = index
        self.told: dict[str, dict[str, tuple[Subscription, str, str]]] = {}
        self.stored: set[str] = set()  # the objectives that have rows in the database
        # written at the end: the objectives whose alarm was over (their rows go), then
        # the subscriptions told since (their rows are written; the others stay as they are)
        self.cleared: set[str] = set()
        self.added: dict[str, dict[str, tuple[str, str]]] = {}
        self._preload(recovering)

    def _preload(self, objective_ids: Iterable[str]) -> None:
        wanted = [o for o in objective_ids if o not in self.told]
        for objective_id, rows in self.uow.statuses.told_many(wanted).items():
            if rows:
                self.stored.add(objective_id)
            found: dict[str, tuple[Subscription, str, str]] = {}
            for subscription_id, status, event_id in rows:
                subscription = self.index.get(subscription_id)
                if subscription is not None:  # a deleted subscription hears nothing
                    found[subscription_id] = (subscription, status, event_id)
            self.told[objective_id] = found

    def _load(self, objective_id: str) -> dict[str, tuple[Subscription, str, str]]:
        if objective_id not in self.told:
            self._preload([objective_id])
        return self.told[objective_id]

    def add_recovering(self, notice: Notice,
                       subscriptions: list[Subscription]) -> list[Subscription]:
        """A settled on_track also goes to everyone told of the alarm before."""
        if not (notice.settled and notice.status == "on_track"):
            return subscriptions
        ids = {s.id for s in subscriptions}
        extra = [s for s_id, (s, _, _) in self._load(notice.objective_id).items()
                 if s_id not in ids]
        return sorted([*subscriptions, *extra], key=lambda s: s.id) if extra else subscriptions

    def heard(self, notice: Notice, subscriptions: list[Subscription]) -> None:
        if not notice.settled or notice.status is None:
            return
        objective_id = notice.objective_id
        if notice.status in ALARMING_STATUSES:
            told = self._load(objective_id)
            for subscription in subscriptions:
                told[subscription.id] = (subscription, notice.status, notice.event_id)
            self.added.setdefault(objective_id, {}).update(
                (subscription.id, (notice.status, notice.event_id))
                for subscription in subscriptions)
        elif notice.status == "on_track":
            self._load(objective_id).clear()
            self.cleared.add(objective_id)
            self.added.pop(objective_id, None)

    def save(self, now: datetime) -> None:
        statuses = self.uow.statuses
        # rows are written only under the objective's status watch, which this unit
        # holds: an objective without rows when read has none to delete
        statuses.forget_told_many(self.cleared & self.stored)
        statuses.remember_told([(s_id, objective_id, status, event_id)
                                for objective_id, added in sorted(self.added.items())
                                for s_id, (status, event_id) in sorted(added.items())], now)


def refreshed(notice: Notice, goals: GoalReadModel) -> Notice:
    """A settled notice as the goal graph stands now: title, owners and who depends on it
    (so a link recorded before the status settled counts, whatever the order of events)."""
    objective = goals.objective(notice.objective_id) or {}
    current = replace(notice, title=objective.get("title") or notice.title,
                      kind=objective.get("kind") or notice.kind,
                      departments=tuple(objective.get("departments") or notice.departments),
                      dependent_departments=goals.dependent_departments(notice.objective_id))
    return replace(current, summary=settled_summary(current))
