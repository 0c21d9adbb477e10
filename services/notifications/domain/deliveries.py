"""A delivery: one message for one subscription, its attempts and where it stands.

A delivery is ``pending`` until an attempt succeeds (``delivered``) or the retry schedule
gives up, or the receiver refuses it for good (``dead``). An ``event`` delivery carries
one notice at once; a ``digest`` delivery carries the notices a subscription collected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
STATUSES = (PENDING, DELIVERED, DEAD)


@dataclass(frozen=True)
class Delivery:
    id: str
    subscription_id: str
    recipient: str
    channel: str
    kind: str
    event_id: str
    message_type: str
    objective_id: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
