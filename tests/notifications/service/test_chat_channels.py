"""Slack and Microsoft Teams incoming webhooks: real HTTP receivers that check the shape of
each payload as the real services do; what a message says (what changed, by how much,
why, the forecast) and its link to the console."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from services.notifications.bootstrap import Notifications
from services.notifications.domain.chat import facts, slack_payload, teams_payload
from services.notifications.domain.errors import InvalidInput
from services.notifications.domain.messages import DIGEST_TYPE, Message
from services.notifications.service_layer.digests import flush_due_digests
from services.notifications.service_layer.dispatching import Dispatcher
from services.notifications.service_layer.recording import _details
from services.notifications.service_layer.subscriptions import create_subscription
from shared.contract import EventType
from shared.contract.rollup_events import RollupChange, RollupEvent
from tests.notifications.builders import checked_in, new_secret, notice, status_changed
from tests.notifications.chat_receivers import ChatReceiver, slack_problems, teams_problems
from tests.notifications.conftest import with_delivery
from tests.notifications.service.test_webhook_delivery import ADMIN, LOOPBACK, consume, deliveries

CONSOLE = "https://okr.example.org/console"


@pytest.fixture
def chats() -> Iterator[dict[str, ChatReceiver]]:
    started = {kind: ChatReceiver(kind).start() for kind in ("slack", "teams")}
    yield started
    for receiver in started.values():
        receiver.stop()


def test_slack_and_teams_get_their_own_payloads_with_the_link_to_the_console(
    notifications: Notifications, chats: dict[str, ChatReceiver]
) -> None:
    container = with_delivery(notifications, console_url=CONSOLE)
    for kind, receiver in chats.items():
        create_subscription(container.unit_of_work(), ADMIN, LOOPBACK, 1, {
            "recipient": f"sales channel on {kind}", "department": "sales", "channel": kind,
            "url": receiver.url}, check_address=container.check_address)
    target = str(uuid.uuid4())
    consume(container, status_changed(target, "off_track", title="Grow <revenue> & more"),
            checked_in(target, str(uuid.uuid4()), 1200.0))
    later = datetime.now(UTC) + timedelta(hours=2)  # the digests are due
    flush_due_digests(container.unit_of_work(), later,
                      Dispatcher(container.config.delivery.hourly_cap))
    loop = container.delivery_loop()
    loop.clock = lambda: later
    while loop.run_once():
        pass
    assert [d["status"] for d in deliveries(container)] == ["delivered"] * 4
    for kind, receiver in chats.items():
        assert receiver.refused == [], (kind, receiver.refused)
        assert len(receiver.accepted) == 2, kind  # the alarm and the digest
    (digest,) = [b for b in chats["slack"].accepted if b["text"].startswith("OKR digest")]
    (alarm,) = [b for b in chats["slack"].accepted if b is not digest]
    text = json.dumps(alarm, ensure_ascii=False)
    assert "on_track → off_track" in text and "42% against 50% expected by now" in text
    assert "8 points behind" in text
    assert "&lt;revenue&gt; &amp; more" in text  # escaped, cannot open a link or mention
    (button,) = alarm["blocks"][-1]["elements"]
    assert button["url"] == f"{CONSOLE}/objectives/{target}"
    assert "check-in" in json.dumps(digest) and digest["text"].startswith("OKR digest")
    (card,) = [b["attachments"][0]["content"] for b in chats["teams"].accepted
               if not b["attachments"][0]["content"]["body"][0]["text"].startswith("OKR digest")]
    (fact_set,) = [e for e in card["body"] if e["type"] == "FactSet"]
    assert {f["title"] for f in fact_set["facts"]} == {"Status", "Progress"}
    assert card["actions"][0]["url"] == f"{CONSOLE}/objectives/{target}"


def test_without_a_console_address_there_is_no_link() -> None:
    message = Message(EventType.OBJECTIVE_STATUS_CHANGED.value, notice().to_dict())
    assert "actions" not in json.dumps(slack_payload(message, None))
    assert "actions" not in teams_payload(message, None)["attachments"][0]["content"]
    assert slack_problems(slack_payload(message, None)) == []
    assert teams_problems(teams_payload(message, None)) == []


def test_a_message_says_why_and_what_to_expect_when_the_roll_up_explains_it() -> None:
    change = RollupChange(
        objective_id="o", title="Grow revenue", cycle="2026-Q4", kind="collective",
        departments=("sales",), progress=0.3, attainment=0.3, expected_progress=0.5,
        status="off_track", confidence=None, changed_at=datetime.now(UTC),
        cause_event_id=None, previous_status="on_track", forecast=0.74,
        forecast_reached_on=date(2027, 2, 1),
        why="production holds 70% of the gap; the link to 'Capacity' is at risk")
    details = _details(RollupEvent("e", EventType.OBJECTIVE_STATUS_CHANGED,
                                   datetime.now(UTC), change))
    data = notice(details=details).to_dict()
    found = dict(facts(data))
    assert found["Progress"] == "30% against 50% expected by now (20 points behind)"
    assert found["Forecast"] == "74% of target at the cycle's end at this pace " \
                                "(reached on 2027-02-01)"
    assert found["Why"].startswith("production holds 70% of the gap")
    message = Message(EventType.OBJECTIVE_STATUS_CHANGED.value, data)
    assert "production holds 70%" in json.dumps(slack_payload(message, CONSOLE))
    assert "production holds 70%" in json.dumps(teams_payload(message, CONSOLE))


def test_a_long_digest_keeps_within_slacks_limits() -> None:
    groups = [{"objective_id": str(i), "title": "T" * 300, "departments": ["sales"],
               "changes": [{"summary": "x" * 200}] * 40} for i in range(80)]
    message = Message(DIGEST_TYPE, {"count": 3200, "collective_targets": groups,
                                    "departments": []})
    assert slack_problems(slack_payload(message, CONSOLE)) == []
    assert teams_problems(teams_payload(message, CONSOLE)) == []


def test_a_chat_hook_has_no_secret_and_a_url(notifications: Notifications) -> None:
    for fields in ({"url": "https://hooks.slack.com/services/T/B/X", "secret": new_secret()},
                   {"email": "a@example.org"}):
        with pytest.raises(InvalidInput):
            create_subscription(notifications.unit_of_work(), ADMIN, LOOPBACK, 1, {
                "recipient": "r", "department": "sales", "channel": "slack", **fields},
                check_address=lambda *_: None)
