"""Scheduled digests on the real database (SQLite and PostgreSQL), a real webhook
receiver and an injected clock: a subscription's digest goes out once, at its schedule's
run (Mondays 09:00 Europe/Berlin), not after its interval; grouped by collective target
with each department's part and the links at risk; and nothing goes out when empty."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.notifications.adapters import tables
from services.notifications.bootstrap import Notifications
from services.notifications.domain.matching import SubscriptionIndex
from services.notifications.domain.outcomes import Outcome
from services.notifications.service_layer.delivering import DeliveryLoop
from services.notifications.service_layer.digests import flush_due_digests
from services.notifications.service_layer.dispatching import Dispatcher
from services.notifications.service_layer.handling import NotificationHandler
from services.notifications.service_layer.subscriptions import (
    delete_subscription,
    update_subscription,
)
from services.notifications.service_layer.unit_of_work import Subscriptions
from tests.notifications.builders import (
    at,
    checked_in,
    link_created,
    new_secret,
    objective_created,
    status_changed,
)
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.service.test_webhook_delivery import (
    ADMIN,
    LOOPBACK,
    consume,
    deliveries,
    subscribe,
)

MONDAYS_9_BERLIN = {"time": "09:00", "weekdays": ["monday"], "time_zone": "Europe/Berlin"}
WEDNESDAY = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
RUN = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # the next Monday, 09:00 in Berlin (CET)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _loop(container: Notifications, clock: FakeClock) -> DeliveryLoop:
    loop = container.delivery_loop()
    loop.clock = clock
    return loop


def _tick(loop: DeliveryLoop) -> None:
    """What the worker does each poll: settle and flush what is due, then send."""
    loop.settle_and_flush()
    while loop.run_once():
        pass


def test_a_scheduled_digest_goes_out_once_at_its_run_and_an_empty_one_never(
    notifications: Notifications, receiver: WebhookReceiver
) -> None:
    clock = FakeClock(WEDNESDAY)
    # the interval (2 s in these tests) would have sent it long before Monday
    sales = subscribe(notifications, receiver.url, receiver.secret, mode="digest",
                      digest_schedule=MONDAYS_9_BERLIN)
    # finance follows its default rules too, on the same schedule: it hears nothing
    subscribe(notifications, receiver.url, receiver.secret, department="finance",
              recipient="head of finance", mode="digest", digest_schedule=MONDAYS_9_BERLIN)
    target, own, capacity = (str(uuid.uuid4()) for _ in range(3))
    handler = NotificationHandler(notifications.config.delivery.hourly_cap,
                                  notifications.unit_of_work, clock=clock)
    events = [objective_created(own, departments=("sales",), title="Sell more"),
              objective_created(capacity, departments=("production",), title="Capacity"),
              link_created("sales", own, capacity, "production"),
              status_changed(target, "at_risk", departments=("marketing", "sales")),
              status_changed(capacity, "off_track", kind="department",
                             departments=("production",), title="Capacity"),
              checked_in(own, str(uuid.uuid4()), 1200.0)]
    consume(notifications, *(at(e, WEDNESDAY) for e in events), handler=handler)

    loop = _loop(notifications, clock)
    for moment in (WEDNESDAY + timedelta(hours=1), RUN - timedelta(days=1),
                   RUN - timedelta(seconds=1)):
        clock.now = moment
        _tick(loop)
        assert deliveries(notifications) == [], moment
    assert receiver.ids() == []

    clock.now = RUN
    _tick(loop)
    (digest,) = deliveries(notifications)
    assert (digest["subscription_id"], digest["kind"], digest["status"]) == (
        sales, "digest", "delivered")
    (payload,) = receiver.payloads()
    assert payload["type"] == "okr.notification.digest"
    data = payload["data"]
    (group,) = data["collective_targets"]
    assert group["objective_id"] == target and group["status"] == "at_risk"
    assert group["parts"] == [{"department": "marketing", "changes": 0},
                              {"department": "sales", "changes": 1}]
    (link,) = data["links_at_risk"]
    assert (link["objective_id"], link["status"], link["dependent_departments"]) == (
        capacity, "off_track", ["sales"])
    assert {g["department"] for g in data["departments"]} == {"sales", "production"}

    # once: later polls the same morning and the next runs find nothing to send
    for moment in (RUN + timedelta(minutes=1), RUN + timedelta(days=7),
                   RUN + timedelta(days=14)):
        clock.now = moment
        _tick(loop)
    assert len(deliveries(notifications)) == 1 and len(receiver.ids()) == 1


def test_an_item_after_the_run_waits_for_the_next_run(
    notifications: Notifications, receiver: WebhookReceiver
) -> None:
    clock = FakeClock(RUN + timedelta(minutes=5))  # just after Monday's run
    subscribe(notifications, receiver.url, receiver.secret, mode="digest",
              digest_schedule=MONDAYS_9_BERLIN)
    own = str(uuid.uuid4())
    handler = NotificationHandler(notifications.config.delivery.hourly_cap,
                                  notifications.unit_of_work, clock=clock)
    consume(notifications, objective_created(own, departments=("sales",)),
            checked_in(own, str(uuid.uuid4()), 10.0), handler=handler)
    loop = _loop(notifications, clock)
    clock.now = RUN + timedelta(days=7) - timedelta(seconds=1)
    _tick(loop)
    assert deliveries(notifications) == []
    clock.now = RUN + timedelta(days=7)
    _tick(loop)
    assert [d["kind"] for d in deliveries(notifications)] == ["digest"]
    assert len(receiver.ids()) == 1


def test_a_digest_whose_only_change_went_out_at_once_is_not_sent(
    notifications: Notifications, receiver: WebhookReceiver
) -> None:
    """The change went into the digest as it happened, then settled and went out at once,
    leaving the digest: at the run there is nothing left to send, and nothing is sent."""
    clock = FakeClock(WEDNESDAY)
    subscribe(notifications, receiver.url, receiver.secret, department="finance",
              recipient="head of finance", digest_schedule=MONDAYS_9_BERLIN)
    handler = NotificationHandler(notifications.config.delivery.hourly_cap,
                                  notifications.unit_of_work, clock=clock,
                                  settle_seconds=60)
    consume(notifications, at(status_changed(str(uuid.uuid4()), "off_track",
                                             departments=("finance",)), WEDNESDAY),
            handler=handler)
    loop = _loop(notifications, clock)
    clock.now = WEDNESDAY + timedelta(minutes=2)  # the status has held: sent at once
    _tick(loop)
    assert [d["kind"] for d in deliveries(notifications)] == ["event"]
    for moment in (RUN, RUN + timedelta(days=7)):
        clock.now = moment
        _tick(loop)
    assert [d["kind"] for d in deliveries(notifications)] == ["event"]
    assert len(receiver.ids()) == 1


def test_a_digest_goes_out_as_its_subscription_stands_when_due_and_not_after_a_delete(
    notifications: Notifications, receiver: WebhookReceiver
) -> None:
    # the loop keeps the subscriptions it read between ticks: a change made after that
    # tick (the secret the receiver checks, a deletion) counts for the next one
    clock = FakeClock(WEDNESDAY)
    sales = subscribe(notifications, receiver.url, new_secret(), mode="digest",
                      digest_interval_seconds=60)
    finance = subscribe(notifications, receiver.url, receiver.secret, department="finance",
                        recipient="head of finance", mode="digest", digest_interval_seconds=60)
    own, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    handler = NotificationHandler(notifications.config.delivery.hourly_cap,
                                  notifications.unit_of_work, clock=clock)
    consume(notifications, objective_created(own, departments=("sales",)),
            checked_in(own, str(uuid.uuid4()), 10.0),
            objective_created(theirs, departments=("finance",)),
            checked_in(theirs, str(uuid.uuid4()), 20.0), handler=handler)
    loop = _loop(notifications, clock)
    _tick(loop)  # not due yet: read the subscriptions, send nothing
    assert deliveries(notifications) == []

    update_subscription(notifications.unit_of_work(), ADMIN, LOOPBACK, sales,
                        {"secret": receiver.secret}, 1, check_address=lambda _: None)
    delete_subscription(notifications.unit_of_work(), ADMIN, finance, 1)
    clock.now = WEDNESDAY + timedelta(minutes=2)
    _tick(loop)
    (digest,) = deliveries(notifications)
    assert (digest["subscription_id"], digest["status"]) == (sales, "delivered")
    assert len(receiver.ids()) == 1  # signed with the secret set after the first tick
    with notifications.engine.connect() as connection:
        waiting = connection.execute(select(tables.digest_items.c.subscription_id).where(
            tables.digest_items.c.delivery_id.is_(None))).scalars().all()
    assert waiting == [], "the deleted subscription's items are dropped, not sent"


def test_a_subscription_made_after_the_loop_read_its_index_keeps_its_waiting_items(
    notifications: Notifications, receiver: WebhookReceiver
) -> None:
    # The flush reads the index, then the backlog: a subscription made in between (and its
    # items) is in the backlog but not in that index. Its items are not dropped as if it
    # were deleted (an outside attack lost 258 items of a live subscription that way).
    clock = FakeClock(WEDNESDAY)
    loop = _loop(notifications, clock)
    with notifications.unit_of_work() as uow:
        before = SubscriptionIndex(uow.subscriptions.all())  # the index as first read
    sales = subscribe(notifications, receiver.url, receiver.secret, mode="digest",
                      digest_interval_seconds=60)
    own = str(uuid.uuid4())
    handler = NotificationHandler(notifications.config.delivery.hourly_cap,
                                  notifications.unit_of_work, clock=clock)
    consume(notifications, objective_created(own, departments=("sales",)),
            checked_in(own, str(uuid.uuid4()), 10.0), handler=handler)

    class IndexReadEarlier(Dispatcher):
        def index(self, subscriptions: Subscriptions) -> SubscriptionIndex:
            return before

    clock.now = WEDNESDAY + timedelta(minutes=2)
    flush_due_digests(notifications.unit_of_work(), clock.now, IndexReadEarlier(5))
    (digest,) = deliveries(notifications)
    assert (digest["subscription_id"], digest["kind"]) == (sales, "digest")
    _tick(loop)
    assert len(receiver.ids()) == 1

    # and one that is gone has its items dropped, as before
    consume(notifications, checked_in(own, str(uuid.uuid4()), 11.0), handler=handler)
    delete_subscription(notifications.unit_of_work(), ADMIN, sales, 1)
    clock.now = WEDNESDAY + timedelta(minutes=5)
    flush_due_digests(notifications.unit_of_work(), clock.now, IndexReadEarlier(5))
    with notifications.engine.connect() as connection:
        waiting = select(tables.digest_items).where(tables.digest_items.c.delivery_id.is_(None))
        assert connection.execute(waiting).all() == []  # (the first digest's item is kept)
    assert len(deliveries(notifications)) == 1


def test_a_claimed_delivery_goes_out_as_its_subscription_stands_when_it_is_sent(
    notifications: Notifications, receiver: WebhookReceiver
) -> None:
    # Claimed deliveries wait for a sending thread (behind slow receivers, up to the
    # lease): one whose subscription was deleted meanwhile is not sent, and one whose URL
    # and secret changed goes to the new URL, signed with the new secret.
    old = WebhookReceiver(new_secret()).start()
    try:
        kept = subscribe(notifications, old.url, old.secret, recipient="head of sales")
        gone = subscribe(notifications, old.url, old.secret, recipient="sales analyst")
        consume(notifications, status_changed(str(uuid.uuid4()), "off_track",
                                              departments=("sales",)))
        loop = notifications.delivery_loop()
        claimed = loop.claim(10)
        assert {d.subscription_id for d in claimed} == {kept, gone}
        update_subscription(notifications.unit_of_work(), ADMIN, LOOPBACK, kept,
                            {"url": receiver.url, "secret": receiver.secret}, 1,
                            check_address=lambda *_: None)
        delete_subscription(notifications.unit_of_work(), ADMIN, gone, 1)
        outcomes = {delivery.subscription_id: outcome
                    for delivery, outcome in (loop.attempt(c) for c in claimed)}
        assert outcomes[kept].ok and not outcomes[gone].ok and outcomes[gone].permanent
        assert old.ids() == []
        assert len(receiver.ids()) == 1
        assert not isinstance(receiver.payloads()[0], Exception)  # the new secret's
    finally:
        old.released.set()
        old.stop()


@pytest.mark.handled_errors("delivery_attempt_failed")
def test_an_attempt_that_raises_fails_alone_and_the_loop_goes_on(
    notifications: Notifications, receiver: WebhookReceiver
) -> None:
    # A sender's unexpected exception ended the whole delivery loop (and the worker) with
    # every outcome of its batch unrecorded; now that attempt fails and is retried.
    subscribe(notifications, receiver.url, receiver.secret)
    consume(notifications, status_changed(str(uuid.uuid4()), "off_track",
                                          departments=("sales",)))
    loop = notifications.delivery_loop()

    class Broken:
        def send(self, *_: object) -> Outcome:
            raise UnicodeEncodeError("latin-1", "ü", 0, 1, "ordinal not in range(256)")

    loop.senders = {**loop.senders, "webhook": Broken()}
    assert loop.run_once() == 1
    (delivery,) = deliveries(notifications)
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
    assert "UnicodeEncodeError" in str(delivery["last_error"])
