"""Where a matched notice goes: an immediate message, or the recipient's next digest.

Routine notices and digest-mode subscriptions always go to the digest. Beyond
``hourly_cap`` immediate messages to one recipient in the last hour, further ones wait
for the next digest instead of being dropped.
"""

from __future__ import annotations

from enum import StrEnum

from services.notifications.domain.notices import Notice
from services.notifications.domain.subscriptions import DeliveryMode, Subscription


class Route(StrEnum):
    IMMEDIATE = "immediate"
    DIGEST = "digest"
    OVERFLOW = "overflow"  # would have been immediate; the hourly cap sent it to the digest


def route(notice: Notice, subscription: Subscription, sent_in_last_hour: int,
          hourly_cap: int) -> Route:
    if notice.routine or subscription.mode is DeliveryMode.DIGEST:
        return Route.DIGEST
    if sent_in_last_hour >= hourly_cap:
        return Route.OVERFLOW
    return Route.IMMEDIATE
