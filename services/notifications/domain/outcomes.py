"""The outcome of one delivery attempt, and the port every channel's sender implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.notifications.domain.messages import Message
from services.notifications.domain.subscriptions import Subscription


@dataclass(frozen=True)
class Outcome:
    """``permanent``: retrying cannot help (refused target, 4xx, bad address)."""

    ok: bool
    reason: str | None = None
    permanent: bool = False

    @classmethod
    def delivered(cls) -> Outcome:
        return cls(ok=True)

    @classmethod
    def retry(cls, reason: str) -> Outcome:
        return cls(ok=False, reason=reason)

    @classmethod
    def give_up(cls, reason: str) -> Outcome:
        return cls(ok=False, reason=reason, permanent=True)


class Sender(Protocol):
    def send(self, delivery_id: str, message: Message, subscription: Subscription) -> Outcome:
        """Make one attempt; never raise for a failure of the receiving side."""
