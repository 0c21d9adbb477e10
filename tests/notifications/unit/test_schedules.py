"""Digest schedules on the recipient's calendar: next runs across DST changes, parsing."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifications.domain.schedules import (
    WEEKDAYS,
    DigestSchedule,
    ScheduleError,
    canonical_time_zones,
    parse_schedule,
    schedule_to_dict,
)

ZONES = sorted(canonical_time_zones())
#: zones with DST changes, half-hour and 45-minute offsets, and one that skipped a day
SOME_ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
              "America/Sao_Paulo", "Pacific/Apia", "Asia/Kolkata", "UTC"]

schedules = st.builds(
    DigestSchedule,
    at=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    weekdays=st.frozensets(st.integers(0, 6), min_size=1),
    time_zone=st.one_of(st.sampled_from(SOME_ZONES), st.sampled_from(ZONES)))
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2037, 12, 31),
                        timezones=st.just(UTC))


def _gap_on(schedule: DigestSchedule, day: date) -> bool:
    """The schedule's time does not exist on that local date (spring-forward gap)."""
    local = datetime.combine(day, schedule.at, tzinfo=schedule.zone)
    return local.astimezone(UTC).astimezone(schedule.zone).replace(tzinfo=None) != \
        local.replace(tzinfo=None)


@settings(max_examples=150, deadline=None)
@given(schedule=schedules, after=instants)
def test_the_next_run_is_the_first_chosen_local_date_after(schedule: DigestSchedule,
                                                           after: datetime) -> None:
    run = schedule.next_run(after)
    assert run > after
    assert run - after <= timedelta(days=8)
    local = run.astimezone(schedule.zone)
    # a run is on a chosen day, at the chosen time unless that time is missing that day
    if local.weekday() in schedule.weekdays:
        day = local.date()
    else:  # a missing time pushed the run past midnight: the run belongs to the day before
        day = local.date() - timedelta(days=1)
        assert day.weekday() in schedule.weekdays and _gap_on(schedule, day)
    if not _gap_on(schedule, day):
        assert local.time() == schedule.at
    # nothing between: every instant before the run leads to the same run (no skip)
    assert schedule.next_run(run - timedelta(microseconds=1)) == run
    middle = after + (run - after) / 2
    assert schedule.next_run(middle) == run


@settings(max_examples=100, deadline=None)
@given(schedule=schedules, start=instants)
def test_iterating_runs_each_chosen_day_once(schedule: DigestSchedule, start: datetime) -> None:
    runs = [schedule.next_run(start)]
    for _ in range(15):
        runs.append(schedule.next_run(runs[-1]))
    assert runs == sorted(set(runs))  # strictly increasing: never twice
    days = [schedule.run_on(d) for d in _chosen_days(schedule, runs[0], runs[-1])]
    assert days == runs  # every chosen local date between the first and last, once


def _chosen_days(schedule: DigestSchedule, first: datetime, last: datetime) -> list[date]:
    day = first.astimezone(schedule.zone).date() - timedelta(days=1)
    found: list[date] = []
    while day <= last.astimezone(schedule.zone).date():
        if day.weekday() in schedule.weekdays and first <= schedule.run_on(day) <= last:
            found.append(day)
        day += timedelta(days=1)
    return found


BERLIN_DAILY_0230 = DigestSchedule(at=time(2, 30), weekdays=frozenset(range(7)),
                                   time_zone="Europe/Berlin")


def test_a_time_in_the_spring_forward_gap_runs_once_just_after_the_jump() -> None:
    # 2026-03-29: Berlin's clocks go 02:00 CET -> 03:00 CEST; 02:30 does not exist
    run = BERLIN_DAILY_0230.next_run(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert run == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert run.astimezone(ZoneInfo("Europe/Berlin")).time() == time(3, 30)
    following = BERLIN_DAILY_0230.next_run(run)
    assert following == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)  # 02:30 CEST


def test_a_time_in_the_autumn_fold_runs_once_at_its_first_occurrence() -> None:
    # 2026-10-25: Berlin's clocks go 03:00 CEST -> 02:00 CET; 02:30 happens twice
    run = BERLIN_DAILY_0230.next_run(datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert run == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first
    following = BERLIN_DAILY_0230.next_run(run)
    assert following == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # not 01:30 UTC the 25th


def test_mondays_at_nine_in_berlin_follow_the_local_clock_across_dst() -> None:
    schedule = parse_schedule({"time": "09:00", "weekdays": ["monday"],
                               "time_zone": "Europe/Berlin"})
    winter = schedule.next_run(datetime(2026, 3, 17, tzinfo=UTC))
    summer = schedule.next_run(winter)
    assert (winter, summer) == (datetime(2026, 3, 23, 8, 0, tzinfo=UTC),
                                datetime(2026, 3, 30, 7, 0, tzinfo=UTC))


@settings(max_examples=100, deadline=None)
@given(schedule=schedules)
def test_a_schedule_survives_its_json_form(schedule: DigestSchedule) -> None:
    assert parse_schedule(schedule_to_dict(schedule)) == schedule


@pytest.mark.parametrize(("data", "field"), [
    ({"time": "24:00", "weekdays": ["monday"], "time_zone": "UTC"}, "schedule.time"),
    ({"time": "9:00", "weekdays": ["monday"], "time_zone": "UTC"}, "schedule.time"),
    ({"time": "09:60", "weekdays": ["monday"], "time_zone": "UTC"}, "schedule.time"),
    ({"time": "09:00", "weekdays": [], "time_zone": "UTC"}, "schedule.weekdays"),
    ({"time": "09:00", "weekdays": ["moonday"], "time_zone": "UTC"}, "schedule.weekdays"),
    ({"time": "09:00", "weekdays": ["monday"], "time_zone": "Mars/Olympus"},
     "schedule.time_zone"),
    ({"time": "09:00", "weekdays": ["monday"], "time_zone": "../../etc/passwd"},
     "schedule.time_zone"),
    ({"time": "09:00", "weekdays": ["monday"]}, "schedule.time_zone"),
    ("Mondays", "schedule"),
    *[({"time": "09:00", "weekdays": ["monday"], "time_zone": name}, "schedule.time_zone")
      for name in ("localtime", "posixrules", "Factory", "right/UTC", "posix/Europe/Berlin",
                   "right/Europe/Berlin")],
])
def test_a_bad_schedule_names_its_field(data: object, field: str) -> None:
    with pytest.raises(ScheduleError) as refused:
        parse_schedule(data)
    assert refused.value.field == field


@settings(max_examples=100, deadline=None)
@given(data=st.one_of(
    st.none(), st.text(max_size=20), st.integers(),
    st.fixed_dictionaries({"time": st.one_of(st.text(max_size=8), st.integers()),
                           "weekdays": st.one_of(st.lists(st.text(max_size=10), max_size=8),
                                                 st.lists(st.sampled_from(WEEKDAYS))),
                           "time_zone": st.one_of(st.text(max_size=40),
                                                  st.sampled_from(ZONES))})))
def test_hostile_schedules_are_refused_by_field_or_kept(data: object) -> None:
    try:
        schedule = parse_schedule(data)
    except ScheduleError as refused:
        assert refused.field.startswith("schedule")
    else:
        assert schedule.next_run(datetime(2026, 1, 1, tzinfo=UTC)) > datetime(2026, 1, 1,
                                                                                 tzinfo=UTC)
