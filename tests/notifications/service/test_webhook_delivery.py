"""Webhook deliveries to a real HTTP receiver: signatures, retries, dead letter, duplicates,
throttling; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notifications.adapters import tables
from services.notifications.adapters.webhooks import signature
from services.notifications.bootstrap import Notifications
from services.notifications.domain.targets import TargetPolicy
from services.notifications.service_layer.handling import NotificationHandler
from services.notifications.service_layer.subscriptions import create_subscription
from shared.cloudevents import CloudEvent, parse_event
from shared.contract.schemas import validate_event_data
from shared.persistence.engine import writing
from shared.web.remote_auth import Caller
from tests.notifications.builders import status_changed
from tests.notifications.conftest import with_delivery
from tests.notifications.receiver import WebhookReceiver

ADMIN = Caller(name="admin", role="admin")
LOOPBACK = TargetPolicy(allow_loopback=True)


def wait_until(condition: Callable[[], bool], timeout: float,
               what: str | Callable[[], str]) -> None:
    """Wait, bounded; ``what`` (or what it returns then) explains a timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {described}")
        time.sleep(0.05)


def subscribe(container: Notifications, url: str, secret: str, **fields: object) -> str:
    body = {"recipient": "head of sales", "department": "sales", "channel": "webhook",
            "url": url, "secret": secret, **fields}
    return create_subscription(container.unit_of_work(), ADMIN, LOOPBACK, 2, body,
                               check_address=container.check_address).id


def consume(container: Notifications, *events: CloudEvent,
            handler: NotificationHandler | None = None) -> None:
    """Apply events as the consumer runner does: the handler inside one transaction each."""
    handler = handler or container.handler()
    for event in events:
        with writing(container.engine).begin() as connection:
            handler(event, connection)


def deliveries(container: Notifications) -> list[dict[str, object]]:
    with container.engine.connect() as connection:
        rows = connection.execute(select(tables.deliveries)
                                  .order_by(tables.deliveries.c.created_at))
        return [dict(row._mapping) for row in rows]


def outbox_types(container: Notifications) -> list[str]:
    """The types of the outcome events in the outbox, each checked against its JSON Schema."""
    with container.engine.connect() as connection:
        payloads = connection.execute(select(tables.plumbing.outbox.c.payload)).scalars()
        events = [parse_event(payload) for payload in payloads]
    for event in events:
        validate_event_data(event.type, event.data)
    return [event.type for event in events]


def test_receiver_verifies_every_signature_and_refuses_tampered_body_and_old_timestamp(
    notifications: Notifications, receiver: WebhookReceiver
) -> None:
    subscribe(notifications, receiver.url, receiver.secret)
    consume(notifications, status_changed("target-1", "off_track"))
    assert notifications.delivery_loop().run_once() == 1

    (received,) = receiver.received
    assert isinstance(received.verified, dict), received.verified
    assert received.verified["type"] == "okr.objective.status_changed"
    assert received.verified["data"]["status"] == "off_track"
    (delivery,) = deliveries(notifications)
    assert received.webhook_id == delivery["id"]
    assert received.headers["webhook-signature"].startswith("v1,")

    webhook = Webhook(receiver.secret)
    tampered = received.body.replace(b"off_track", b"on_track")
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        webhook.verify(tampered, received.headers)
    old = int((datetime.now(UTC) - timedelta(minutes=10)).timestamp())
    replayed = {**received.headers, "webhook-timestamp": str(old),
                "webhook-signature": signature(receiver.secret, received.webhook_id, old,
                                               received.body)}
    with pytest.raises(WebhookVerificationError, match="too old"):
        webhook.verify(received.body, replayed)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
    assert outbox_types(notifications) == ["okr.notification.delivered"]


def test_receiver_down_then_up_gets_each_delivery_exactly_once_after_the_retries(
    notifications: Notifications, receiver: WebhookReceiver,
    run_in_background: Callable[..., object]
) -> None:
    subscribe(notifications, receiver.url, receiver.secret)
    consume(notifications, *[status_changed(f"target-{i}", "off_track") for i in range(3)])
    receiver.stop()
    container = with_delivery(notifications, retry=notifications.config.delivery.retry.__class__(
        base_seconds=0.2, max_delay_seconds=0.4, max_attempts=20, jitter=0.2))
    run_in_background(container.delivery_loop().run)
    wait_until(lambda: all(int(str(d["attempts"])) >= 2 for d in deliveries(notifications)),
               15, "two failed attempts each")
    receiver.start()  # up again, on the same port
    wait_until(lambda: all(d["status"] == "delivered" for d in deliveries(notifications)),
               15, "every delivery delivered")
    time.sleep(0.5)  # nothing more may arrive

    rows = deliveries(notifications)
    assert sorted(receiver.ids()) == sorted(str(d["id"]) for d in rows)  # once each
    assert all(isinstance(p, dict) for p in receiver.payloads())
    assert all(int(str(d["attempts"])) >= 3 for d in rows)
    assert outbox_types(notifications).count("okr.notification.delivered") == 3


@pytest.mark.parametrize(("status", "attempts", "reason"), [
    (500, 4, "gave up after 4 attempts: receiver answered 500"),
    (410, 1, "receiver answered 410"),
])
def test_permanently_failing_delivery_ends_in_the_dead_letter_with_its_reason(
    notifications: Notifications, receiver: WebhookReceiver, status: int, attempts: int,
    reason: str, run_in_background: Callable[..., object]
) -> None:
    receiver.status = status
    subscribe(notifications, receiver.url, receiver.secret)
    consume(notifications, status_changed("target-1", "off_track"))
    run_in_background(notifications.delivery_loop().run)
    wait_until(lambda: deliveries(notifications)[0]["status"] == "dead", 15, "dead letter")

    (row,) = deliveries(notifications)
    assert row["attempts"] == attempts and row["last_error"] == reason
    assert len(set(receiver.ids())) == 1 and len(receiver.ids()) == attempts  # same webhook-id
    assert outbox_types(notifications) == ["okr.notification.failed"]
    with notifications.engine.connect() as connection:
        payload = connection.execute(select(tables.plumbing.outbox.c.payload)).scalar_one()
    assert json.loads(payload)["data"]["reason"] == reason


def test_private_target_is_refused_again_at_send_time(
    notifications: Notifications, receiver: WebhookReceiver
) -> None:
    subscribe(notifications, receiver.url, receiver.secret)
    consume(notifications, status_changed("target-1", "off_track"))
    strict = with_delivery(notifications, targets=TargetPolicy())
    strict.delivery_loop().run_once()

    (row,) = deliveries(notifications)
    assert row["status"] == "dead" and "loopback" in str(row["last_error"])
    assert receiver.received == []


def test_the_same_event_twice_makes_one_delivery_per_subscription(
    notifications: Notifications, receiver: WebhookReceiver
) -> None:
    subscribe(notifications, receiver.url, receiver.secret)
    event = status_changed("target-1", "off_track")
    consume(notifications, event, event)
    assert len(deliveries(notifications)) == 1


@pytest.mark.parametrize("batched", [False, True], ids=["one-at-a-time", "one-batch"])
def test_beyond_the_hourly_cap_alarms_wait_for_the_digest_instead_of_being_dropped(
    notifications: Notifications, receiver: WebhookReceiver, batched: bool
) -> None:
    subscribe(notifications, receiver.url, receiver.secret)
    cap = notifications.config.delivery.hourly_cap
    alarms = [status_changed(f"t-{i}", "off_track") for i in range(cap + 2)]
    if batched:  # as the worker applies a polled batch: one transaction
        with writing(notifications.engine).begin() as connection:
            notifications.handler(cap).handle_batch(alarms, connection)
    else:
        consume(notifications, *alarms)
    assert [d["kind"] for d in deliveries(notifications)] == ["event"] * cap
    with notifications.engine.connect() as connection:
        waiting = connection.execute(select(tables.digest_items.c.event_id)).all()
    assert len(waiting) == 2


@pytest.mark.postgres
@pytest.mark.parametrize("notifications_database_url", ["postgresql"], indirect=True)
def test_two_workers_at_once_never_exceed_a_recipients_hourly_cap(
    notifications: Notifications, receiver: WebhookReceiver
) -> None:
    subscribe(notifications, receiver.url, receiver.secret)
    handler = notifications.handler(hourly_cap=1)
    first = writing(notifications.engine).connect()
    try:
        with first.begin():
            handler(status_changed("t-1", "off_track"), first)  # not committed yet
            second = threading.Thread(target=consume, args=(
                notifications, status_changed("t-2", "off_track")), kwargs={"handler": handler})
            second.start()
            second.join(timeout=0.5)
            assert second.is_alive(), "the second worker waits for the first one's commit"
    finally:
        first.close()
    second.join(timeout=10)
    assert not second.is_alive()
    assert [d["kind"] for d in deliveries(notifications)] == ["event"]  # the cap: one
    with notifications.engine.connect() as connection:
        waiting = connection.execute(select(tables.digest_items.c.event_id)).all()
    assert len(waiting) == 1, "the other alarm waits for the digest"
