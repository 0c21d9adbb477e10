"""When a subscription's digest is due: after its interval, or at its schedule's first run
after the oldest waiting item, on the recipient's calendar (a fake clock walks the minutes
around each run, across daylight-saving changes); what a digest shows; clear refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notifications.domain.chat import slack_payload, teams_payload
from services.notifications.domain.digests import build_digest, digest_groups
from services.notifications.domain.errors import InvalidInput
from services.notifications.domain.messages import DIGEST_TYPE, Message
from services.notifications.domain.subscriptions import DeliveryMode, schedule_from
from shared.contract import EventType
from tests.notifications.builders import notice, subscription
from tests.notifications.chat_receivers import slack_problems, teams_problems

MONDAYS_9_BERLIN = {"time": "09:00", "weekdays": ["monday"], "time_zone": "Europe/Berlin"}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def _scheduled(schedule: dict[str, Any] | None = None, **fields: Any) -> Any:
    return subscription(mode=DeliveryMode.DIGEST,
                        digest_schedule=schedule_from(schedule or MONDAYS_9_BERLIN), **fields)


def _first_due(sub: Any, oldest: datetime, clock: FakeClock, step: timedelta,
               until: datetime) -> datetime | None:
    """Walk the clock in ``step``s until the digest is due; the first instant it is."""
    while clock.now <= until:
        if sub.digest_due(oldest, clock()):
            return clock.now
        clock.now += step
    return None


def test_a_scheduled_digest_is_due_at_the_first_run_after_its_oldest_item() -> None:
    scheduled = _scheduled(digest_interval_seconds=60)
    oldest = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Berlin
    clock = FakeClock(oldest)
    # not after its (one-minute) interval: on Monday 09:00 in Berlin, 08:00 UTC in winter
    due = _first_due(scheduled, oldest, clock, timedelta(minutes=1),
                     oldest + timedelta(days=8))
    assert due == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert not scheduled.digest_due(oldest, due - timedelta(microseconds=1))
    # an item that came just after a run waits for the next run, a week later
    assert scheduled.digest_due_at(due + timedelta(seconds=1)) == due + timedelta(days=7)


def test_without_a_schedule_the_interval_decides_as_before() -> None:
    plain = subscription(digest_interval_seconds=600)
    oldest = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert plain.digest_due_at(oldest) == oldest + timedelta(seconds=600)
    assert not plain.digest_due(oldest, oldest + timedelta(seconds=599))
    assert plain.digest_due(oldest, oldest + timedelta(seconds=600))


def test_monday_nine_stays_nine_in_berlin_when_the_clocks_go_forward() -> None:
    scheduled = _scheduled()
    oldest = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # Friday, CET (UTC+1)
    clock = FakeClock(oldest)
    due = _first_due(scheduled, oldest, clock, timedelta(minutes=5),
                     oldest + timedelta(days=8))
    # Monday 30 March is in CEST (UTC+2): 09:00 local is 07:00 UTC, not 08:00
    assert due == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def test_a_run_in_the_spring_forward_gap_goes_out_as_far_after_the_jump() -> None:
    # Sunday 29 March 2026 in Berlin: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist
    scheduled = _scheduled({"time": "02:30", "weekdays": ["sunday"],
                            "time_zone": "Europe/Berlin"})
    oldest = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    clock = FakeClock(oldest)
    due = _first_due(scheduled, oldest, clock, timedelta(minutes=1),
                     oldest + timedelta(days=2))
    assert due == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST


def test_a_run_in_the_autumn_fold_goes_out_once_not_twice() -> None:
    # Sunday 25 October 2026 in Berlin: 03:00 CEST falls back to 02:00 CET; 02:30 is
    # 00:30 UTC and again 01:30 UTC
    scheduled = _scheduled({"time": "02:30", "weekdays": ["sunday"],
                            "time_zone": "Europe/Berlin"})
    oldest = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    clock = FakeClock(oldest)
    first = _first_due(scheduled, oldest, clock, timedelta(minutes=1),
                       oldest + timedelta(days=2))
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    # flushed then; an item between the two 02:30s is not due at the second one
    later_item = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)
    clock = FakeClock(later_item)
    second = _first_due(scheduled, later_item, clock, timedelta(minutes=1),
                        later_item + timedelta(days=8))
    assert second == datetime(2026, 11, 1, 1, 30, tzinfo=UTC)  # next Sunday, 02:30 CET


@pytest.mark.parametrize(("schedule", "field", "says"), [
    ({**MONDAYS_9_BERLIN, "time_zone": "Mars/Olympus_Mons"}, "digest_schedule.time_zone",
     "unknown time zone"),
    ({**MONDAYS_9_BERLIN, "time_zone": "../../etc/passwd"}, "digest_schedule.time_zone",
     "IANA"),
    ({**MONDAYS_9_BERLIN, "time": "24:00"}, "digest_schedule.time", "00:00 to 23:59"),
    ({**MONDAYS_9_BERLIN, "time": "9:00"}, "digest_schedule.time", "HH:MM"),
    ({**MONDAYS_9_BERLIN, "weekdays": []}, "digest_schedule.weekdays", "one to seven"),
    ({**MONDAYS_9_BERLIN, "weekdays": ["someday"]}, "digest_schedule.weekdays", "monday"),
    ({"time": "09:00", "weekdays": ["monday"]}, "digest_schedule.time_zone", "IANA"),
])
def test_a_bad_schedule_is_refused_naming_the_field(schedule: dict[str, Any], field: str,
                                                    says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        schedule_from(schedule)
    assert refused.value.field == field and says in str(refused.value)


def test_a_digest_shows_each_departments_part_of_a_target_and_the_links_at_risk() -> None:
    at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    notices = [
        notice(objective_id="target-1", title="Grow revenue", status="at_risk",
               departments=("marketing", "sales"), settled=False, occurred_at=at,
               summary="'Grow revenue' is now at_risk (was on_track)"),
        notice(objective_id="sales-1", title="Sell more", kind="department",
               departments=("sales",), event_type=EventType.KEY_RESULT_CHECKED_IN.value,
               status=None, previous_status=None, settled=False, summary="check-in",
               occurred_at=at + timedelta(minutes=1)),
        notice(objective_id="prod-1", title="Capacity", kind="department",
               departments=("production",), status="off_track", settled=False,
               dependent_departments=frozenset({"sales"}), summary="capacity off",
               occurred_at=at + timedelta(minutes=2)),
        notice(objective_id="ops-1", title="Back again", kind="department",
               departments=("ops",), status="on_track", previous_status="off_track",
               dependent_departments=frozenset({"sales"}), settled=False, summary="fine",
               occurred_at=at + timedelta(minutes=3)),
    ]
    digest = build_digest(notices)
    (target,) = digest["collective_targets"]
    assert target["status"] == "at_risk"
    assert target["parts"] == [{"department": "marketing", "changes": 0},
                               {"department": "sales", "changes": 1}]
    (link,) = digest["links_at_risk"]  # ops is back on track: no longer at risk
    assert (link["objective_id"], link["status"], link["dependent_departments"]) == (
        "prod-1", "off_track", ["sales"])
    groups = dict(digest_groups(digest))
    assert groups["Collective target: Grow revenue (at_risk)"][:2] == [
        "marketing: 0 change(s) of its own items", "sales: 1 change(s) of its own items"]
    assert groups["Links at risk"] == [
        "'Capacity' (production) is off_track; sales depend(s) on it"]
    message = Message(DIGEST_TYPE, digest)
    assert "Links at risk" in message.text() and "<h2>Links at risk</h2>" in message.html()
    slack, teams = slack_payload(message, None), teams_payload(message, None)
    assert slack_problems(slack) == [] and teams_problems(teams) == []
    assert "*Links at risk*" in json.dumps(slack) and "Links at risk" in json.dumps(teams)
