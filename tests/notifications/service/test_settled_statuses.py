"""Settled statuses, recovery and order independence, on SQLite and PostgreSQL.

A status is announced at once only when it has held ``settle_seconds``; a flap sends
nothing at once and the digest records every change; whoever was told of an alarm hears
of the recovery once; and which of the two topics' events comes first does not decide who
hears what (every order of the same events is tried)."""

from __future__ import annotations

import itertools
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.notifications.adapters import tables
from services.notifications.bootstrap import Notifications, bootstrap
from services.notifications.service_layer.dispatching import Dispatcher
from services.notifications.service_layer.handling import NotificationHandler
from services.notifications.service_layer.settling import settle_due
from services.notifications.service_layer.subscriptions import delete_subscription
from shared.cloudevents import CloudEvent
from shared.persistence.engine import writing
from tests.notifications.builders import (
    AT,
    at,
    key_result_created,
    link_created,
    link_to_key_result,
    objective_created,
    status_changed,
)
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.service.test_webhook_delivery import ADMIN, consume, subscribe

SETTLE = 60.0


class Clock:
    """The worker's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(AT)


@pytest.fixture
def handler(notifications: Notifications, clock: Clock) -> NotificationHandler:
    return NotificationHandler(10, notifications.unit_of_work, clock, settle_seconds=SETTLE)


def immediate(container: Notifications) -> list[dict[str, Any]]:
    """The immediate deliveries made: (subscription, status, previous, objective)."""
    with container.engine.connect() as connection:
        deliveries, notices = tables.deliveries, tables.notices
        rows = connection.execute(
            select(deliveries, notices.c.body)
            .join(notices, deliveries.c.notice_id == notices.c.id)
            .where(deliveries.c.kind == "event").order_by(deliveries.c.created_at))
        return [{"subscription_id": row.subscription_id, "event_id": row.event_id,
                 **{k: json.loads(row.body)[k] for k in (
                     "objective_id", "status", "previous_status", "summary", "settled")}}
                for row in rows]


def digest_items(container: Notifications) -> list[dict[str, Any]]:
    with container.engine.connect() as connection:
        items, notices = tables.digest_items, tables.notices
        rows = connection.execute(select(items.c.subscription_id, notices.c.body)
                                  .join(notices, items.c.notice_id == notices.c.id)
                                  .order_by(items.c.position))
        return [{"subscription_id": row.subscription_id, **json.loads(row.body)}
                for row in rows]


def settle(container: Notifications, clock: Clock) -> int:
    return settle_due(container.unit_of_work, Dispatcher(10), clock())


def flap(objective: str, start: datetime, *statuses: str, step: float = 2.0,
         **fields: Any) -> list[CloudEvent]:
    """Status changes ``step`` seconds apart (event time), from on_track."""
    previous, events = "on_track", []
    for number, status in enumerate(statuses):
        events.append(at(status_changed(objective, status, previous, **fields),
                         start + timedelta(seconds=step * number)))
        previous = status
    return events


def test_a_flap_within_the_settle_time_sends_nothing_at_once_and_the_digest_has_it_all(
    notifications: Notifications, receiver: WebhookReceiver, handler: NotificationHandler,
    clock: Clock
) -> None:
    # the demo run twice: on_track -> off_track -> at_risk -> on_track within seconds
    sid = subscribe(notifications, receiver.url, receiver.secret)  # sales: owner of target-1
    consume(notifications, *flap("target-1", clock(), "off_track", "at_risk", "on_track"),
            handler=handler)
    clock.advance(SETTLE + 1)
    assert settle(notifications, clock) == 0
    assert immediate(notifications) == []
    recorded = [(i["status"], i["previous_status"]) for i in digest_items(notifications)
                if i["subscription_id"] == sid]
    assert recorded == [("off_track", "on_track"), ("at_risk", "off_track"),
                        ("on_track", "at_risk")]


def test_a_status_that_holds_is_announced_once_even_by_two_workers_after_a_restart(
    notifications: Notifications, notifications_config: Any, receiver: WebhookReceiver,
    handler: NotificationHandler, clock: Clock
) -> None:
    sid = subscribe(notifications, receiver.url, receiver.secret)
    consume(notifications, *flap("target-1", clock(), "off_track", "at_risk"),
            handler=handler)
    assert settle(notifications, clock) == 0  # still waiting
    assert immediate(notifications) == []
    # the worker restarts: the wait is in the database, not in the old process
    notifications.engine.dispose()
    restarted = bootstrap(notifications_config)
    try:
        clock.advance(SETTLE + 1)
        with ThreadPoolExecutor(2) as pool:  # two workers settle at once
            settled = list(pool.map(lambda _: settle(restarted, clock), range(2)))
        assert sorted(settled) == [0, 1]
        assert settle(restarted, clock) == 0
        (only,) = immediate(restarted)
        # one message: the settled change from the status announced before (on_track)
        assert (only["subscription_id"], only["status"], only["previous_status"],
                only["settled"]) == (sid, "at_risk", "on_track", True)
        assert "is now at_risk (was on_track)" in only["summary"]
    finally:
        restarted.engine.dispose()


def test_a_status_held_by_the_events_own_times_settles_when_the_next_change_arrives(
    notifications: Notifications, receiver: WebhookReceiver, handler: NotificationHandler,
    clock: Clock
) -> None:
    # a replay after an outage: off_track held for two minutes by the events' times
    subscribe(notifications, receiver.url, receiver.secret)
    first = at(status_changed("target-1", "off_track"), clock())
    second = at(status_changed("target-1", "on_track", "off_track"),
                clock() + timedelta(seconds=2 * SETTLE))
    consume(notifications, first, second, handler=handler)
    assert [(i["status"], i["previous_status"]) for i in immediate(notifications)] == [
        ("off_track", "on_track")]
    clock.advance(SETTLE + 1)
    settle(notifications, clock)  # on_track held too: the recovery
    assert [(i["status"], i["previous_status"]) for i in immediate(notifications)] == [
        ("off_track", "on_track"), ("on_track", "off_track")]


def test_whoever_was_told_of_an_alarm_hears_of_the_recovery_once(
    notifications: Notifications, receiver: WebhookReceiver, handler: NotificationHandler,
    clock: Clock
) -> None:
    # sales depends on production's capacity; production's own head hears nothing of it
    own, capacity = str(uuid.uuid4()), str(uuid.uuid4())
    sales = subscribe(notifications, receiver.url, receiver.secret)
    finance = subscribe(notifications, receiver.url, receiver.secret, department="finance",
                        recipient="head of finance")
    consume(notifications, objective_created(own),
            objective_created(capacity, departments=("production",), title="Capacity"),
            link_created("sales", own, capacity, "production"), handler=handler)
    production = {"kind": "department", "departments": ("production",), "title": "Capacity"}
    consume(notifications, *flap(capacity, clock(), "off_track", **production),
            handler=handler)
    clock.advance(SETTLE + 1)
    settle(notifications, clock)
    consume(notifications, at(status_changed(capacity, "on_track", "off_track", **production),
                              clock()), handler=handler)
    clock.advance(SETTLE + 1)
    settle(notifications, clock)
    # at risk again, then back: told once more of each
    consume(notifications, at(status_changed(capacity, "at_risk", "on_track", **production),
                              clock()), handler=handler)
    clock.advance(SETTLE + 1)
    settle(notifications, clock)
    consume(notifications, at(status_changed(capacity, "on_track", "at_risk", **production),
                              clock()), handler=handler)
    clock.advance(SETTLE + 1)
    settle(notifications, clock)
    clock.advance(SETTLE + 1)
    settle(notifications, clock)
    told = [(i["subscription_id"], i["status"], i["previous_status"])
            for i in immediate(notifications)]
    assert told == [(sales, "off_track", "on_track"), (sales, "on_track", "off_track"),
                    (sales, "at_risk", "on_track"), (sales, "on_track", "at_risk")]
    assert all(s != finance for s, _, _ in told)
    recovery = immediate(notifications)[1]
    assert recovery["summary"] == "'Capacity' is back on track (was off_track)"


@pytest.mark.parametrize("together", [True, False], ids=["one-batch", "two-batches"])
def test_an_alarm_and_its_recovery_in_one_batch_reach_whoever_was_told_of_the_alarm(
    notifications: Notifications, receiver: WebhookReceiver, clock: Clock, together: bool
) -> None:
    # settled at once: the alarm and its recovery are announced by the batch that brings
    # them; sales hears the recovery because it was told of the alarm (production's own
    # objective back on track is nothing to sales by the default rules)
    handler = NotificationHandler(10, notifications.unit_of_work, clock, settle_seconds=0)
    own, capacity = str(uuid.uuid4()), str(uuid.uuid4())
    sales = subscribe(notifications, receiver.url, receiver.secret)
    consume(notifications, objective_created(own),
            objective_created(capacity, departments=("production",), title="Capacity"),
            link_created("sales", own, capacity, "production"), handler=handler)
    production = {"kind": "department", "departments": ("production",), "title": "Capacity"}
    alarm = at(status_changed(capacity, "off_track", "on_track", **production), clock())
    recovery = at(status_changed(capacity, "on_track", "off_track", **production),
                  clock() + timedelta(seconds=2))
    if together:
        with writing(notifications.engine).begin() as connection:
            handler.handle_batch([alarm, recovery], connection)
    else:
        consume(notifications, alarm, recovery, handler=handler)
    assert sorted((i["subscription_id"], i["event_id"], i["status"])
                  for i in immediate(notifications)) == sorted(
        [(sales, alarm.id, "off_track"), (sales, recovery.id, "on_track")])
    assert told_of_alarms(notifications) == []  # told of the recovery: nothing left to tell


def told_of_alarms(container: Notifications) -> list[tuple[str, str]]:
    """(subscription, objective) of every alarm remembered for a recovery."""
    with container.engine.connect() as connection:
        rows = connection.execute(select(tables.alarms_told.c.subscription_id,
                                         tables.alarms_told.c.objective_id))
        return sorted((row[0], row[1]) for row in rows)


def test_a_deleted_subscription_is_forgotten_by_the_alarms_it_was_told_of(
    notifications: Notifications, receiver: WebhookReceiver, handler: NotificationHandler,
    clock: Clock
) -> None:
    kept = subscribe(notifications, receiver.url, receiver.secret)
    deleted = subscribe(notifications, receiver.url, receiver.secret, recipient="deputy")
    consume(notifications, *flap("target-1", clock(), "off_track"), handler=handler)
    clock.advance(SETTLE + 1)
    settle(notifications, clock)
    assert told_of_alarms(notifications) == sorted([(kept, "target-1"), (deleted, "target-1")])
    delete_subscription(notifications.unit_of_work(), ADMIN, deleted, expected_version=1)
    assert told_of_alarms(notifications) == [(kept, "target-1")]


def _order_scenario() -> tuple[list[CloudEvent], str, str]:
    """Production's capacity goes off_track; sales links to one of its key results."""
    own, capacity, key_result = (str(uuid.uuid4()) for _ in range(3))
    events = [
        objective_created(capacity, departments=("production",), title="Capacity"),
        key_result_created(capacity, key_result),
        link_to_key_result("sales", own, key_result, "production"),
        at(status_changed(capacity, "off_track", kind="department",
                          departments=("production",), title="Capacity"), AT),
    ]
    return events, capacity, own


@pytest.mark.parametrize("settle_seconds", [0.0, SETTLE])
def test_order_does_not_decide_every_order_tells_sales_once(
    notifications: Notifications, receiver: WebhookReceiver, clock: Clock,
    settle_seconds: float
) -> None:
    sales = subscribe(notifications, receiver.url, receiver.secret)
    handler = NotificationHandler(100, notifications.unit_of_work, clock,
                                  settle_seconds=settle_seconds)
    base, _, _ = _order_scenario()
    orders = list(itertools.permutations(range(len(base))))
    capacities = []
    for number, order in enumerate(orders):
        events, capacity, _ = _order_scenario()
        capacities.append(capacity)
        if number % 2:  # every order one event at a time, and in one consumed batch
            consume(notifications, *(events[i] for i in order), handler=handler)
        else:
            from shared.persistence.engine import writing

            with writing(notifications.engine).begin() as connection:
                handler.handle_batch([events[i] for i in order], connection)
    clock.advance(settle_seconds + 1)
    settle_due(notifications.unit_of_work, Dispatcher(100), clock(), limit=1000)
    told = immediate(notifications)
    assert len(orders) == 24
    for capacity in capacities:
        mine = [(i["subscription_id"], i["status"]) for i in told
                if i["objective_id"] == capacity]
        assert mine == [(sales, "off_track")], capacity


def test_a_link_to_an_item_already_announced_at_risk_tells_the_linking_head(
    notifications: Notifications, receiver: WebhookReceiver, handler: NotificationHandler,
    clock: Clock
) -> None:
    sales = subscribe(notifications, receiver.url, receiver.secret)
    capacity = str(uuid.uuid4())
    production = {"kind": "department", "departments": ("production",), "title": "Capacity"}
    consume(notifications, at(status_changed(capacity, "at_risk", **production), clock()),
            handler=handler)
    clock.advance(SETTLE + 1)
    settle(notifications, clock)
    assert immediate(notifications) == []  # nobody depends on it yet
    link = link_created("sales", str(uuid.uuid4()), capacity, "production")
    consume(notifications, link, link, handler=handler)  # twice: still once
    consume(notifications, link_created("sales", str(uuid.uuid4()), capacity, "production"),
            handler=handler)  # a second link of the same department: nothing new
    (told,) = immediate(notifications)
    assert (told["subscription_id"], told["status"]) == (sales, "at_risk")


@pytest.mark.parametrize("together", [True, False], ids=["one-batch", "two-batches"])
def test_a_change_announced_at_once_leaves_the_digest_whether_it_came_in_this_batch_or_before(
    notifications: Notifications, receiver: WebhookReceiver, handler: NotificationHandler,
    clock: Clock, together: bool
) -> None:
    # off_track holds two minutes by the events' times: on_track's arrival announces it;
    # the digest keeps only on_track, whether off_track's item was stored by an earlier
    # batch or is still in this one
    sales = subscribe(notifications, receiver.url, receiver.secret)
    first = at(status_changed("target-1", "off_track"), clock())
    second = at(status_changed("target-1", "on_track", "off_track"),
                clock() + timedelta(seconds=2 * SETTLE))
    if together:
        with writing(notifications.engine).begin() as connection:
            handler.handle_batch([first, second], connection)
    else:
        consume(notifications, first, second, handler=handler)
    assert [(i["subscription_id"], i["event_id"]) for i in immediate(notifications)] == [
        (sales, first.id)]
    assert [(i["subscription_id"], i["event_id"]) for i in digest_items(notifications)] == [
        (sales, second.id)]
