"""The retry schedule of a failed delivery: exponential backoff with jitter, then dead letter.

After failed attempt ``n`` (1, 2, ...) the next attempt waits
``min(base * 2 ** (n - 1), max_delay)``, shortened by a random share of up to ``jitter``
(so that receivers coming back are not hit by every sender at the same instant). After
``max_attempts`` attempts the delivery is dead-lettered with the last failure as reason.
Defaults: base 30 s, cap 1 h, 8 attempts: 30 s, 1 min, 2 min, 4 min, 8 min, 16 min,
32 min (about 1 h 03 min in all), each up to 20 % earlier.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetrySchedule:
    base_seconds: float = 30.0
    max_delay_seconds: float = 3600.0
    max_attempts: int = 8
    jitter: float = 0.2

    def nominal_delay(self, failed_attempts: int) -> float:
        return min(self.base_seconds * 2 ** (failed_attempts - 1), self.max_delay_seconds)

    def delay(self, failed_attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``failed_attempts`` failures."""
        nominal = self.nominal_delay(failed_attempts)
        share = (rng or random).random() * self.jitter
        return nominal * (1 - share)

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
