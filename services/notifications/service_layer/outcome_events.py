"""The ``okr.notification.delivered`` and ``okr.notification.failed`` events of a delivery."""

from __future__ import annotations

from datetime import datetime

from services.notifications.domain.deliveries import DELIVERED, Delivery
from shared.cloudevents import CloudEvent, new_event
from shared.contract import EventType


def outcome_event(delivery: Delivery, status: str, attempts: int, reason: str | None,
                  at: datetime, source: str) -> tuple[CloudEvent, str]:
    """The event and its Kafka key (the objective concerned, or the subscription's id)."""
    delivered = status == DELIVERED
    data = {
        "delivery_id": delivery.id,
        "subscription_id": delivery.subscription_id,
        "recipient": delivery.recipient,
        "channel": delivery.channel,
        "kind": delivery.kind,
        "message_type": delivery.message_type,
        "cause_event_id": None if delivery.kind == "digest" else delivery.event_id,
        "objective_id": delivery.objective_id,
        "attempts": attempts,
        "status": status,
        "reason": reason,
        "at": at.isoformat().replace("+00:00", "Z"),
    }
    event_type = EventType.NOTIFICATION_DELIVERED if delivered else EventType.NOTIFICATION_FAILED
    event = new_event(event_type, source, f"delivery/{delivery.id}", data)
    return event, delivery.objective_id or delivery.subscription_id
