"""The clock port: statuses are judged against the share of the cycle elapsed *now*, so
time alone moves them. Production reads the system clock; tests wind a fake forward."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time (timezone-aware, UTC)."""


def system_clock() -> datetime:
    return datetime.now(UTC)
