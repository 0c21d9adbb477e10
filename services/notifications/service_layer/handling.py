"""The consumer's handler: read model, matching, throttling, and the deliveries to make.

Runs inside the :class:`~shared.messaging.consumer.ConsumerRunner` transaction, so the
recorded deliveries, the digest items and the processed event id commit together; the
unique key (subscription, event) makes a redelivered event change nothing.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection

from services.notifications.domain.matching import SubscriptionIndex
from services.notifications.domain.notices import Notice
from services.notifications.domain.subscriptions import Subscription
from services.notifications.domain.throttling import Route, route
from services.notifications.service_layer.recording import record_event
from services.notifications.service_layer.unit_of_work import (
    Subscriptions,
    UnitOfWork,
    UnitOfWorkFactory,
)
from shared.clock import Clock, system_clock
from shared.cloudevents import CloudEvent


class NotificationHandler:
    """Turns events into deliveries; keeps the subscription index until it is stale.

    Called with one event (the runner's one-at-a-time path) or, through
    :meth:`handle_batch`, with a polled batch in one transaction. Either way the recipients
    whose hourly cap an alarm counts against are locked together, in one order, before any
    is counted, so workers never deadlock on them and never exceed a cap together.
    """

    def __init__(self, hourly_cap: int, units: UnitOfWorkFactory,
                 clock: Clock = system_clock) -> None:
        self.hourly_cap = hourly_cap
        self.units = units
        self.clock = clock
        self._index = SubscriptionIndex()
        self._revision = -1

    def __call__(self, event: CloudEvent, connection: Connection) -> None:
        self.handle_batch([event], connection)

    def handle_batch(self, events: list[CloudEvent], connection: Connection) -> None:
        """Apply events in order, in the runner's transaction on ``connection``: the read
        model first, then the deliveries they make."""
        with self.units(connection) as uow:
            self._handle(events, uow)
            uow.commit()

    def _handle(self, events: list[CloudEvent], uow: UnitOfWork) -> None:
        index: SubscriptionIndex | None = None
        matched: list[tuple[Notice, list[Subscription]]] = []
        for event in events:
            notice = record_event(event, uow.goals)
            if notice is None:
                continue
            if index is None:  # the subscriptions' revision, read once a batch
                index = self._current_index(uow.subscriptions)
            subscriptions = index.match(notice)
            if subscriptions:
                matched.append((notice, subscriptions))
        if not matched:
            return
        deliveries = uow.deliveries
        now = self.clock()
        capped = {subscription.recipient for notice, subscriptions in matched
                  if not notice.routine for subscription in subscriptions}
        sent: dict[str, int] = {}
        if capped:  # routine changes only go into digests: no cap to count
            deliveries.lock_recipients(capped)
            sent = deliveries.immediate_since(capped, now - timedelta(hours=1))
        for notice, subscriptions in matched:
            immediate: list[tuple[str, str, str]] = []
            digested: list[str] = []
            for subscription in subscriptions:
                recipient = subscription.recipient
                decision = route(notice, subscription, sent.get(recipient, 0), self.hourly_cap)
                if decision is Route.IMMEDIATE:
                    sent[recipient] = sent.get(recipient, 0) + 1
                    immediate.append((subscription.id, recipient, subscription.channel.value))
                else:
                    digested.append(subscription.id)
            deliveries.add_for_notice(immediate, notice, now)
            deliveries.add_to_digests(digested, notice, now)

    def _current_index(self, subscriptions: Subscriptions) -> SubscriptionIndex:
        revision = subscriptions.revision()
        if revision != self._revision:
            self._index = SubscriptionIndex(subscriptions.all())
            self._revision = revision
        return self._index
