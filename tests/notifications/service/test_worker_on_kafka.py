"""The worker on a real Tansu broker: goal and roll-up events in, webhooks and e-mail out
(real receiver, real SMTP server), outcome events on ``okr.notifications.v1``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from email.message import Message as EmailMessage
from typing import Any

from sqlalchemy import func, select

from services.notifications.adapters import tables
from services.notifications.adapters.email import EmailSender
from services.notifications.bootstrap import Notifications
from services.notifications.config import SmtpSettings
from services.notifications.service_layer.delivering import DeliveryLoop
from services.notifications.service_layer.subscriptions import create_subscription
from shared.cloudevents import CloudEvent
from shared.config import KafkaSettings
from shared.contract import Topic
from tests.notifications.builders import checked_in, link_created, objective_created, status_changed
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.service.test_webhook_delivery import (
    ADMIN,
    LOOPBACK,
    deliveries,
    subscribe,
    wait_until,
)
from tests.support.kafka import read_topic

Publish = Callable[[list[CloudEvent]], None]
Background = Callable[..., Any]


def linked(container: Notifications) -> bool:
    with container.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(tables.links)).scalar_one() > 0


def start_worker(container: Notifications, run_in_background: Background,
                 delivery: DeliveryLoop | None = None) -> None:
    run_in_background(container.consumer().run)
    run_in_background((delivery or container.delivery_loop()).run)
    run_in_background(container.relay().run)


def test_hundred_check_ins_make_one_digest_while_off_track_target_arrives_at_once(
    notifications: Notifications, receiver: WebhookReceiver, publish: Publish,
    kafka_settings: KafkaSettings, run_in_background: Background
) -> None:
    # default rules of department sales; the digest goes out 5 s after its first item
    subscribe(notifications, receiver.url, receiver.secret, digest_interval_seconds=5)
    target, own = str(uuid.uuid4()), str(uuid.uuid4())
    key_result = str(uuid.uuid4())
    publish([objective_created(target, kind="collective", departments=("marketing", "sales"),
                               title="Grow revenue"),
             objective_created(own, title="Sales-sourced business")])
    publish([checked_in(own, key_result, value) for value in range(100)])
    alarm = status_changed(target, "off_track")
    publish([alarm, alarm])  # delivered twice by the broker: one notification still
    start_worker(notifications, run_in_background)

    def digested() -> list[Any]:
        return [p for p in receiver.payloads() if p["type"] == "okr.notification.digest"]

    # a loaded machine may take longer than the interval for the hundred: then a second
    # digest carries the rest; together they hold each check-in once
    wait_until(lambda: sum(d["data"]["count"] for d in digested()) >= 100, 60,
               lambda: f"the digests; deliveries: {deliveries(notifications)}")
    # the alarm is its own notification, once though the broker delivered it twice (on a
    # loaded machine the first digest may leave before the alarm's partition is read, so
    # the order of the two is not the point)
    alarms = [p for p in receiver.payloads() if p["type"] == "okr.objective.status_changed"]
    assert [a["data"]["event_id"] for a in alarms] == [alarm.id]
    changes = [c for d in digested() for g in d["data"]["departments"] for c in g["changes"]]
    assert {g["department"] for d in digested() for g in d["data"]["departments"]} == {"sales"}
    assert len(changes) == 100 and len({c["event_id"] for c in changes}) == 100
    # the alarm was sent at once, so no digest repeats it
    assert all(d["data"]["collective_targets"] == [] for d in digested())
    sent = len(receiver.received)
    outcomes = read_topic(kafka_settings, Topic.NOTIFICATIONS.value, expect=sent, timeout=15)
    assert sorted(json.loads(r.value)["type"] for r in outcomes) == [
        "okr.notification.delivered"] * sent
    assert len(receiver.received) == sent  # read_topic waited a second more: nothing else


def test_head_hears_by_email_when_a_supplier_item_goes_at_risk(
    notifications: Notifications, publish: Publish, run_in_background: Background,
    smtp_server: tuple[SmtpSettings, list[EmailMessage]]
) -> None:
    settings, inbox = smtp_server
    create_subscription(notifications.unit_of_work(), ADMIN, LOOPBACK, 2, {
        "recipient": "Head of sales", "department": "sales", "channel": "email",
        "email": "sales-head@example.org"}, check_address=notifications.check_address)
    own, capacity = str(uuid.uuid4()), str(uuid.uuid4())
    publish([objective_created(own), objective_created(
        capacity, departments=("production",), title="Deliver Q4 capacity")])
    publish([link_created("sales", own, capacity, "production")])
    loop = notifications.delivery_loop()
    loop.senders = {**loop.senders, "email": EmailSender(settings)}
    start_worker(notifications, run_in_background, loop)
    # Events of different objectives may be consumed in any order; the link comes first here.
    wait_until(lambda: linked(notifications), 30, "the link in the read model")
    publish([status_changed(capacity, "at_risk", kind="department",
                            departments=("production",), title="Deliver Q4 capacity")])

    wait_until(lambda: len(inbox) == 1, 30, "the e-mail")
    wait_until(lambda: deliveries(notifications)[0]["status"] == "delivered", 10,
               "the delivery recorded as delivered")
    (email,) = inbox
    assert email["To"] == "sales-head@example.org"
    assert "Deliver Q4 capacity" in email["Subject"] and "at_risk" in email["Subject"]
    assert email.get_content_type() == "multipart/alternative"
    parts: list[Any] = list(email.get_payload())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert "<strong>" in parts[1].get_payload(decode=True).decode()
    (row,) = deliveries(notifications)
    assert email["Message-ID"] == f"<{row['id']}@okr-notifications>"
