from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import FakeClock, system_clock


def test_system_clock_tells_aware_utc_time() -> None:
    assert system_clock().tzinfo is UTC


def test_fake_clock_stands_still_until_moved() -> None:
    clock = FakeClock(datetime(2026, 11, 1, tzinfo=UTC))
    assert clock() == clock() == datetime(2026, 11, 1, tzinfo=UTC)
    clock.advance(timedelta(hours=1))
    assert clock() == datetime(2026, 11, 1, 1, tzinfo=UTC)


def test_fake_clock_refuses_naive_time() -> None:
    with pytest.raises(ValueError):
        FakeClock(datetime(2026, 11, 1))
