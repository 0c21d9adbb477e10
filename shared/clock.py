"""The clock port, one for every service: code that needs "now" takes a ``Clock``.

Statuses are judged against the share of the cycle elapsed now, throttles count the last
hour, retention windows end now: time alone moves them. Production passes
:func:`system_clock`; tests pass a :class:`FakeClock` and wind it forward.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware, in UTC."""


def system_clock() -> datetime:
    return datetime.now(UTC)


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("a clock tells aware time")
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
