"""The consumer's handler: read model, matching, throttling, and the deliveries to make.

Runs inside the :class:`~shared.messaging.consumer.ConsumerRunner` transaction, so the
recorded deliveries, the digest items and the processed event id commit together; the
unique key (subscription, event) makes a redelivered event change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from services.notifications.adapters.deliveries import DeliveryRepository
from services.notifications.adapters.repositories import GoalReadModel, SubscriptionRepository
from services.notifications.domain.matching import SubscriptionIndex
from services.notifications.domain.throttling import Route, route
from services.notifications.service_layer.interpreting import interpret
from shared.cloudevents import CloudEvent

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class NotificationHandler:
    """Turns events into deliveries; keeps the subscription index until it is stale."""

    def __init__(self, hourly_cap: int, clock: Clock = utc_now) -> None:
        self.hourly_cap = hourly_cap
        self.clock = clock
        self._index = SubscriptionIndex()
        self._revision = -1

    def __call__(self, event: CloudEvent, connection: Connection) -> None:
        notice = interpret(event, GoalReadModel(connection))
        if notice is None:
            return
        matched = self._current_index(connection).match(notice)
        if not matched:
            return
        deliveries = DeliveryRepository(connection)
        now = self.clock()
        sent: dict[str, int] = {}
        if not notice.routine:  # routine changes only go into digests: no cap to count
            recipients = {s.recipient for s in matched}
            deliveries.lock_recipients(recipients)
            sent = deliveries.immediate_since(recipients, now - timedelta(hours=1))
        immediate: list[tuple[str, str, str]] = []
        digested: list[str] = []
        for subscription in matched:
            recipient = subscription.recipient
            decision = route(notice, subscription, sent.get(recipient, 0), self.hourly_cap)
            if decision is Route.IMMEDIATE:
                sent[recipient] = sent.get(recipient, 0) + 1
                immediate.append((subscription.id, recipient, subscription.channel.value))
            else:
                digested.append(subscription.id)
        deliveries.add_for_notice(immediate, notice, now)
        deliveries.add_to_digests(digested, notice, now)

    def _current_index(self, connection: Connection) -> SubscriptionIndex:
        repository = SubscriptionRepository(connection)
        revision = repository.revision()
        if revision != self._revision:
            self._index = SubscriptionIndex(repository.all())
            self._revision = revision
        return self._index
