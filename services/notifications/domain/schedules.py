"""When a scheduled digest goes out: a local time of day on chosen days of the week, in the
recipient's IANA time zone (e.g. Mondays 09:00 Europe/Berlin).

Runs are computed on the recipient's calendar, one candidate per chosen local date, so
that iterating :meth:`DigestSchedule.next_run` from any instant neither skips a chosen day
nor runs one twice, across daylight-saving changes:

* a time in the spring-forward gap (02:30 on the night clocks go 02:00 -> 03:00) does not
  exist that day; the run goes out as far after the jump as the time lay after the gap's
  start (03:30), the reading PEP 495 gives to a missing time (``fold=0``);
* a time in the autumn fold (02:30 twice on the night clocks go 03:00 -> 02:00) runs once,
  at its first occurrence.

Pure domain: no clock, no database. A subscription's ``digest_schedule``
(``domain/subscriptions.py``) is one; the digest flush (``service_layer/digests.py``)
sends a scheduled digest at the first run after its oldest waiting item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

#: ISO day names, Monday first (``date.weekday()`` order).
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


#: Names the time zone database may hold that are no IANA zone: the host's own zone, the
#: POSIX default rules, the "no zone" placeholder, and the alternative trees (``posix/``,
#: ``right/`` with leap seconds) some hosts have and others lack.
_HOST_NAMES = frozenset({"localtime", "posixrules", "Factory"})
_HOST_TREES = ("posix/", "right/")


@cache
def canonical_time_zones() -> frozenset[str]:
    """The IANA zone names a schedule may use, computed once: the database's zones without
    the host-dependent names, so the API and the worker agree on what a name means."""
    return frozenset(name for name in available_timezones()
                     if name not in _HOST_NAMES and not name.startswith(_HOST_TREES))


class ScheduleError(ValueError):
    """A schedule that cannot be kept; ``field`` names the offending input field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class DigestSchedule:
    at: time  # local wall-clock time, naive, minute precision
    weekdays: frozenset[int]  # 0 = Monday
    time_zone: str  # IANA name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def run_on(self, day: date) -> datetime:
        """The instant (UTC) of the run on local date ``day`` (chosen or not)."""
        local = datetime.combine(day, self.at, tzinfo=self.zone)  # fold=0: first / before gap
        return local.astimezone(UTC)

    def next_run(self, after: datetime) -> datetime:
        """The first run strictly after ``after`` (an aware instant), in UTC."""
        if after.tzinfo is None:
            raise ValueError("after must be an aware datetime")
        day = after.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(10):  # a chosen day comes within 8 local dates of any instant
            if day.weekday() in self.weekdays:
                run = self.run_on(day)
                if run > after:
                    return run
            day += timedelta(days=1)
        raise AssertionError("unreachable: a schedule has at least one weekday")


def parse_schedule(data: object, field: str = "schedule") -> DigestSchedule:
    """A schedule from its JSON form ``{"time": "09:00", "weekdays": ["monday"],
    "time_zone": "Europe/Berlin"}``; a :class:`ScheduleError` names the field at fault."""
    if not isinstance(data, dict):
        raise ScheduleError(field, "must be an object with time, weekdays and time_zone")
    unknown = sorted(set(data) - {"time", "weekdays", "time_zone"})
    if unknown:
        raise ScheduleError(f"{field}.{unknown[0]}"[:200], "unknown field")
    return DigestSchedule(at=_parse_time(data.get("time"), f"{field}.time"),
                          weekdays=_parse_weekdays(data.get("weekdays"), f"{field}.weekdays"),
                          time_zone=_parse_zone(data.get("time_zone"), f"{field}.time_zone"))


def _parse_time(value: object, field: str) -> time:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":" \
            or not (value[:2] + value[3:]).isascii() or not (value[:2] + value[3:]).isdigit():
        raise ScheduleError(field, "must be a local time of day as HH:MM (24-hour)")
    hour, minute = int(value[:2]), int(value[3:])
    if hour > 23 or minute > 59:
        raise ScheduleError(field, "must be a valid time of day, 00:00 to 23:59")
    return time(hour, minute)


def _parse_weekdays(value: object, field: str) -> frozenset[int]:
    if not isinstance(value, list) or not value or len(value) > 7:
        raise ScheduleError(field, "must list one to seven days, e.g. [\"monday\"]")
    days: set[int] = set()
    for item in value:
        if not isinstance(item, str) or item.lower() not in WEEKDAYS:
            raise ScheduleError(field, "days are monday, tuesday, ..., sunday")
        days.add(WEEKDAYS.index(item.lower()))
    return frozenset(days)


def _parse_zone(value: object, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or not value.isascii() \
            or value.startswith("/") or ".." in value or "\\" in value or "\x00" in value:
        raise ScheduleError(field, "must be an IANA time zone name, e.g. Europe/Berlin")
    if value not in canonical_time_zones():
        raise ScheduleError(field, f"unknown time zone {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(field, f"unknown time zone {value!r}") from None
    return value


def schedule_to_dict(schedule: DigestSchedule) -> dict[str, object]:
    return {"time": schedule.at.strftime("%H:%M"),
            "weekdays": [WEEKDAYS[d] for d in sorted(schedule.weekdays)],
            "time_zone": schedule.time_zone}
