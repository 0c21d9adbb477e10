"""Flush digests: a subscription's waiting items become one delivery once the oldest has
waited its digest interval."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Engine

from services.notifications.adapters.deliveries import DeliveryRepository
from services.notifications.adapters.repositories import SubscriptionRepository
from services.notifications.domain.digests import build_digest
from services.notifications.domain.messages import DIGEST_TYPE
from shared.persistence.engine import writing


def flush_due_digests(engine: Engine, now: datetime) -> int:
    """Turn every due digest into a delivery; return how many were made."""
    made = 0
    with writing(engine).begin() as connection:
        deliveries = DeliveryRepository(connection)
        subscriptions = SubscriptionRepository(connection)
        for subscription_id, oldest in deliveries.digest_backlog():
            subscription = subscriptions.get(subscription_id)
            if subscription is None:
                deliveries.drop_digest_items(subscription_id)
                continue
            if now - oldest < timedelta(seconds=subscription.digest_interval_seconds):
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
    return made
