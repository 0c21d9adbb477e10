"""The consumer's handler: read model, matching, throttling, and the deliveries to make.

Runs inside the :class:`~shared.messaging.consumer.ConsumerRunner` transaction, so the
recorded deliveries, the digest items and the processed event id commit together; the
unique key (subscription, event) makes a redelivered event change nothing.
"""

from __future__ import annotations

from sqlalchemy import Connection

from services.notifications.domain.matching import SubscriptionIndex
from services.notifications.service_layer.dispatching import Dispatcher, Matched
from services.notifications.service_layer.recording import CachedGoals, decode, record_decoded
from services.notifications.service_layer.settling import (
    BatchWatches,
    alarm_for_new_dependents,
    observe_status,
)
from services.notifications.service_layer.unit_of_work import UnitOfWork, UnitOfWorkFactory
from shared.clock import Clock, system_clock
from shared.cloudevents import CloudEvent
from shared.contract import EventType
from shared.contract.rollup_events import RollupEvent

#: Events after which the departments depending on an objective may have grown.
_NEW_DEPENDENCY = frozenset({EventType.LINK_CREATED.value, EventType.KEY_RESULT_CREATED.value})


class NotificationHandler:
    """Turns events into deliveries; keeps the subscription index until it is stale.

    Called with one event (the runner's one-at-a-time path) or, through
    :meth:`handle_batch`, with a polled batch in one transaction. A status change goes
    into the digests at once and into its objective's watch, to be announced when it has
    settled (``settle_seconds``; ``service_layer/settling.py``).
    """

    def __init__(self, hourly_cap: int, units: UnitOfWorkFactory,
                 clock: Clock = system_clock, settle_seconds: float = 0.0) -> None:
        self.units = units
        self.clock = clock
        self.settle_seconds = settle_seconds
        self.dispatcher = Dispatcher(hourly_cap)

    @property
    def hourly_cap(self) -> int:
        return self.dispatcher.hourly_cap

    def __call__(self, event: CloudEvent, connection: Connection) -> None:
        self.handle_batch([event], connection)

    def handle_batch(self, events: list[CloudEvent], connection: Connection) -> None:
        """Apply events in order, in the runner's transaction on ``connection``: the read
        model first, then the deliveries they make."""
        with self.units(connection) as uow:
            self._handle(events, uow)
            uow.commit()

    def _handle(self, events: list[CloudEvent], uow: UnitOfWork) -> None:
        now = self.clock()
        decoded = [decode(event) for event in events]  # a broken event fails the batch first
        goals = CachedGoals(uow.goals)  # each objective read once a batch
        goals.prefetch({d.change.objective_id for d in decoded if isinstance(d, RollupEvent)})
        # the watches of the status changes (and of the links' objectives, read as met)
        watches = BatchWatches(uow.statuses, [
            d.change.objective_id for d in decoded
            if isinstance(d, RollupEvent) and d.is_status_change])
        matched: Matched = []
        index: SubscriptionIndex | None = None
        for event in decoded:
            notice = record_decoded(event, goals)
            if notice is None:
                continue
            if index is None:  # the subscriptions' revision, read once a batch
                index = self.dispatcher.index(uow.subscriptions)
            subscriptions = index.match(notice)
            if subscriptions:
                matched.append((notice, subscriptions))
            if notice.is_status_change:
                matched += observe_status(watches, goals, index, notice, now,
                                          self.settle_seconds)
            elif notice.event_type in _NEW_DEPENDENCY:
                matched += alarm_for_new_dependents(uow, watches, goals, index,
                                                    notice.objective_id)
        watches.save()
        goals.flush()
        if matched:
            self.dispatcher.deliver(uow, matched, now, index,
                                    frozenset(event.id for event in decoded))
