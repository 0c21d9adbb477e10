"""Flush digests: a subscription's waiting items become one delivery once they are due: when
the oldest has waited its digest interval, or, for a subscription with a digest schedule,
at the schedule's first run after the oldest (``Subscription.digest_due_at``). A digest
with nothing in it is not made: a subscription without waiting items has no backlog, and
one whose items another worker took meanwhile makes none.

The subscriptions come from the caller's index (``Dispatcher.index``: one read of the
revision while nothing changed), not one query per subscription with waiting items: with
thousands of them, the loop that checks twice a second spent its time there instead of
sending."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.notifications.domain.digests import build_digest
from services.notifications.domain.messages import DIGEST_TYPE
from services.notifications.service_layer.dispatching import Dispatcher
from services.notifications.service_layer.unit_of_work import UnitOfWork


def flush_due_digests(uow: UnitOfWork, now: datetime, dispatcher: Dispatcher) -> int:
    """Turn every due digest into a delivery; return how many were made."""
    made = 0
    with uow:
        deliveries = uow.deliveries
        subscriptions = dispatcher.index(uow.subscriptions)
        for subscription_id, oldest in deliveries.digest_backlog():
            subscription = subscriptions.get(subscription_id)
            if subscription is None:
                # not in the index read before the backlog: made since, or deleted
                subscription = uow.subscriptions.get(subscription_id)
            if subscription is None:
                deliveries.drop_digest_items(subscription_id)
                continue
            if not subscription.digest_due(oldest, now):
                continue
            delivery_id = str(uuid.uuid4())
            notices = deliveries.take_digest_items(subscription_id, delivery_id)
            if not notices:
                continue
            deliveries.add(delivery_id=delivery_id, subscription_id=subscription_id,
                           recipient=subscription.recipient,
                           channel=subscription.channel.value, kind="digest",
                           event_id=f"digest:{delivery_id}", message_type=DIGEST_TYPE,
                           objective_id=None, payload=build_digest(notices), now=now)
            made += 1
        uow.commit()
    return made
