"""Settled statuses, recovery and order independence with the worker on a real Tansu broker
and a real webhook receiver: the flap of ``make demo`` run twice sends nothing at once, a
held status is sent once and its recovery once, and the link or the alarm may come first.

The settle time is long (the flap cannot settle while it is being consumed); the test then
ends a wait by moving its due time to now (as if the time had passed), and the running
worker settles it, so nothing depends on how fast a loaded machine consumes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from services.notifications.adapters import tables
from services.notifications.bootstrap import Notifications
from services.notifications.service_layer.dispatching import Dispatcher
from services.notifications.service_layer.settling import settle_due
from shared.cloudevents import CloudEvent
from shared.persistence.engine import writing
from tests.notifications.builders import (
    key_result_created,
    link_to_key_result,
    objective_created,
    status_changed,
)
from tests.notifications.conftest import with_delivery
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.service.test_webhook_delivery import deliveries, subscribe, wait_until

Publish = Callable[[list[CloudEvent]], None]
Background = Callable[..., Any]
SETTLE = 300.0


def watch(container: Notifications, objective_id: str) -> Any:
    with container.engine.connect() as connection:
        return connection.execute(select(tables.status_watch).where(
            tables.status_watch.c.objective_id == objective_id)).first()


def end_the_wait(container: Notifications, objective_id: str) -> None:
    """As if the settle time had passed for the objective's waiting status."""
    row = watch(container, objective_id)
    assert row is not None and row.due_at is not None
    with writing(container.engine).begin() as connection:
        connection.execute(update(tables.status_watch).where(
            tables.status_watch.c.objective_id == objective_id).values(
            due_at=datetime.now(UTC)))


def statuses_sent(receiver: WebhookReceiver) -> list[tuple[str, str | None]]:
    return [(p["data"]["status"], p["data"]["previous_status"]) for p in receiver.payloads()
            if p["type"] == "okr.objective.status_changed"]


def test_flap_sends_nothing_at_once_a_held_status_once_and_its_recovery_once(
    notifications: Notifications, receiver: WebhookReceiver, publish: Publish,
    run_in_background: Background
) -> None:
    container = with_delivery(notifications, settle_seconds=SETTLE, digest_interval_seconds=1)
    subscribe(container, receiver.url, receiver.secret, digest_interval_seconds=1)
    target = str(uuid.uuid4())  # a collective target of marketing and sales
    run_in_background(container.consumer().run)
    run_in_background(container.delivery_loop().run)

    # make demo run twice: on_track -> off_track -> at_risk -> on_track within seconds
    publish([status_changed(target, "off_track", "on_track"),
             status_changed(target, "at_risk", "off_track"),
             status_changed(target, "on_track", "at_risk")])
    wait_until(lambda: (row := watch(container, target)) is not None
               and row.status == "on_track", 30, "the flap consumed")
    assert watch(container, target).due_at is None  # back to the status announced: no wait
    wait_until(lambda: any(p["type"] == "okr.notification.digest"
                           for p in receiver.payloads()), 30, "the digest")
    assert statuses_sent(receiver) == []  # nothing at once
    (digest,) = [p for p in receiver.payloads() if p["type"] == "okr.notification.digest"]
    (group,) = digest["data"]["collective_targets"]
    assert [c["status"] for c in group["changes"]] == ["off_track", "at_risk", "on_track"]

    # then off_track holds: sent once, however often the settling step runs
    publish([status_changed(target, "off_track", "on_track")])
    wait_until(lambda: watch(container, target).status == "off_track", 30, "off_track consumed")
    end_the_wait(container, target)
    wait_until(lambda: statuses_sent(receiver) == [("off_track", "on_track")], 30,
               lambda: f"the alarm; deliveries: {deliveries(container)}")
    publish([status_changed(target, "on_track", "off_track")])
    wait_until(lambda: watch(container, target).status == "on_track", 30, "on_track consumed")
    assert settle_due(container.unit_of_work, Dispatcher(10), datetime.now(UTC)) == 0
    end_the_wait(container, target)
    wait_until(lambda: len(statuses_sent(receiver)) == 2, 30, "the recovery")
    assert settle_due(container.unit_of_work, Dispatcher(10), datetime.now(UTC)) == 0
    assert statuses_sent(receiver) == [("off_track", "on_track"), ("on_track", "off_track")]
    assert "back on track" in [p for p in receiver.payloads()
                               if p["type"] != "okr.notification.digest"][-1]["data"]["summary"]


def test_link_or_alarm_first_on_the_broker_sales_hears_once_either_way(
    notifications: Notifications, receiver: WebhookReceiver, publish: Publish,
    run_in_background: Background
) -> None:
    subscribe(notifications, receiver.url, receiver.secret)  # sales, default rules, no wait
    run_in_background(notifications.consumer().run)
    run_in_background(notifications.delivery_loop().run)
    capacities = []
    for alarm_first in (True, False):
        own, capacity, key_result = (str(uuid.uuid4()) for _ in range(3))
        capacities.append(capacity)
        graph = [objective_created(capacity, departments=("production",), title="Capacity"),
                 key_result_created(capacity, key_result),
                 link_to_key_result("sales", own, key_result, "production")]
        alarm = [status_changed(capacity, "off_track", kind="department",
                                departments=("production",), title="Capacity")]
        # the two topics: one is published (and consumed) before the other is even sent
        first, second = (alarm, graph) if alarm_first else (graph, alarm)
        publish(first)
        wait_until(_all_consumed(notifications, first), 30, "the first topic's events")
        publish(second)
    wait_until(lambda: len(receiver.payloads()) >= 2, 30,
               lambda: f"both alarms; deliveries: {deliveries(notifications)}")
    sent = sorted(p["data"]["objective_id"] for p in receiver.payloads())
    assert sent == sorted(capacities)  # one each, whichever came first
    assert {p["data"]["status"] for p in receiver.payloads()} == {"off_track"}


def _all_consumed(container: Notifications,
                  events: list[CloudEvent]) -> Callable[[], bool]:
    def consumed() -> bool:
        with container.engine.connect() as connection:
            seen = set(connection.execute(
                select(tables.plumbing.processed_events.c.event_id)).scalars())
        return all(event.id in seen for event in events)

    return consumed
