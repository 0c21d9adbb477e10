"""Capped exponential backoff: the one way every loop in the platform waits before a retry.

A loop that retries something that may pass (a broker or database away) keeps one
``Backoff``, calls ``wait(stop)`` after each failure and ``reset()`` after a success. The
delay doubles from ``initial`` up to ``maximum``; waiting returns early (False) when
``stop`` is set, so a process shutting down never sleeps through its stop signal.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

MAX_BACKOFF_SECONDS = 5.0


@dataclass
class Backoff:
    initial: float = 0.1
    maximum: float = MAX_BACKOFF_SECONDS
    _delay: float = field(init=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self._delay = self.initial

    def next_delay(self) -> float:
        """The delay to wait now; the one after it is twice as long, up to ``maximum``."""
        delay = self._delay
        self._delay = min(self._delay * 2, self.maximum)
        return delay

    def wait(self, stop: threading.Event) -> bool:
        """Wait the next delay; False if ``stop`` was set (before or during the wait)."""
        return not stop.wait(self.next_delay())

    def reset(self) -> None:
        self._delay = self.initial
