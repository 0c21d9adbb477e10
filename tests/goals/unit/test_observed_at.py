"""A check-in's ``observed_at``: when its value was true; the latest observed value is the
key result's current value (domain rules, without I/O)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.goals.domain.errors import InvalidInput
from services.goals.domain.goals import (
    CLOCK_SKEW,
    EARLIEST_OBSERVATION,
    CheckIn,
    CheckInSource,
    KeyResult,
    Measure,
)

RECORDED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _key_result() -> KeyResult:
    return KeyResult.new(objective_id="o", title="Pipeline", measure=Measure.INCREASE,
                         start=0, target=100, unit="EUR")


def _check_in(observed_at: datetime | None) -> CheckIn:
    return CheckIn.new(key_result_id="k", value=1.0, confidence=None, note="", author="crm",
                       source=CheckInSource.SYSTEM, observed_at=observed_at)


def test_the_latest_observation_wins_whatever_the_order_it_arrives_in() -> None:
    key_result = _key_result()
    monday, tuesday, wednesday = (RECORDED - timedelta(days=days) for days in (9, 8, 7))
    assert key_result.record_value(30.0, 0.5, RECORDED, tuesday) is True
    version = key_result.version
    # Monday's figure arrives late: history only; value, confidence and times stay
    assert key_result.record_value(10.0, 0.9, RECORDED + timedelta(minutes=1), monday) is False
    assert (key_result.current, key_result.confidence) == (30.0, 0.5)
    assert (key_result.observed_at, key_result.last_checkin_at) == (tuesday, tuesday)
    assert key_result.version == version + 1  # every check-in is a change of the key result
    assert key_result.record_value(50.0, None, RECORDED + timedelta(minutes=2), wednesday)
    assert (key_result.current, key_result.confidence, key_result.observed_at) == (
        50.0, 0.5, wednesday)


def test_of_two_observed_at_the_same_moment_the_one_recorded_later_wins() -> None:
    key_result = _key_result()
    key_result.record_value(1.0, None, RECORDED, RECORDED - timedelta(hours=1))
    assert key_result.record_value(2.0, None, RECORDED + timedelta(seconds=1),
                                   RECORDED - timedelta(hours=1))
    assert key_result.current == 2.0


def test_without_observed_at_a_check_in_is_observed_when_recorded() -> None:
    check_in = _check_in(None)
    assert check_in.observed_at == check_in.created_at
    key_result = _key_result()
    key_result.record_value(5.0, None, check_in.created_at)
    assert key_result.observed_at == check_in.created_at


def test_observed_at_is_kept_in_utc_and_within_the_clock_skew() -> None:
    paris = timezone(timedelta(hours=1))
    check_in = _check_in(datetime(2026, 11, 2, 10, 30, tzinfo=paris))
    assert check_in.observed_at == datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    assert check_in.observed_at.utcoffset() == timedelta(0)
    soon = datetime.now(UTC) + CLOCK_SKEW - timedelta(seconds=30)
    assert _check_in(soon).observed_at == soon
    assert _check_in(EARLIEST_OBSERVATION).observed_at == EARLIEST_OBSERVATION


def _soon_beyond_the_skew() -> datetime:
    return datetime.now(UTC) + CLOCK_SKEW + timedelta(minutes=1)


@pytest.mark.parametrize("observed_at, reason", [
    (_soon_beyond_the_skew, "future"),  # computed when the test runs
    (datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=23, minutes=59))),
     "future"),
    (EARLIEST_OBSERVATION - timedelta(microseconds=1), "before"),
    (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), "before"),
    (datetime(2026, 11, 2, 9, 30), "offset"),
])
def test_observed_at_in_the_future_before_2000_or_without_offset_is_refused(
        observed_at: datetime | Callable[[], datetime], reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason) as refused:
        _check_in(observed_at() if callable(observed_at) else observed_at)
    assert refused.value.field == "observed_at"


@given(st.datetimes(timezones=st.one_of(st.none(), st.timezones(),
                                        st.builds(timezone, st.timedeltas(
                                            -timedelta(hours=23, minutes=59),
                                            timedelta(hours=23, minutes=59))))))
def test_any_datetime_is_taken_or_refused_as_invalid_input(observed_at: datetime) -> None:
    try:
        check_in = _check_in(observed_at)
    except InvalidInput:
        return
    assert EARLIEST_OBSERVATION <= check_in.observed_at <= check_in.created_at + CLOCK_SKEW
    assert check_in.observed_at.tzinfo is UTC
