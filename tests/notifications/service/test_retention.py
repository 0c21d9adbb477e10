"""What the notifications database keeps and for how long: processed-event ids for
``OKR_PROCESSED_EVENTS_RETENTION_HOURS``, delivered and dead deliveries, the items a
digest carried and the notices nothing carries any more for ``OKR_DELIVERY_RETENTION_DAYS``;
pending deliveries, waiting digest items and their notices until they are done. Purges
run in batches, and one that fails stops nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, event, select

from services.notifications.adapters import tables
from services.notifications.bootstrap import Notifications
from services.notifications.config import SERVICE, NotificationsConfig
from shared.config import ConfigurationError
from shared.messaging.processed_events import ProcessedEvents
from shared.observability.metrics import HANDLED_ERRORS, ROWS_PURGED
from shared.persistence.retention import Retention, purge_expired
from shared.runtime.housekeeping import housekeeping_loop, purge_all

PROCESSED = tables.plumbing.processed_events
DAY = timedelta(days=1)


def _ago(delta: timedelta) -> datetime:
    return datetime.now(UTC) - delta


def _processed(event_id: str, age: timedelta) -> dict[str, Any]:
    return {"consumer": "okr-notifications", "event_id": event_id, "processed_at": _ago(age)}


def _delivery(delivery_id: str, status: str, age: timedelta) -> dict[str, Any]:
    at = _ago(age)
    return {"id": delivery_id, "subscription_id": "s1", "recipient": "ops@example.org",
            "channel": "email", "kind": "event", "event_id": f"e-{delivery_id}",
            "message_type": "okr.key_result.checked_in", "objective_id": None,
            "notice_id": f"n-{delivery_id}", "status": status, "attempts": 1,
            "next_attempt_at": at, "created_at": at, "updated_at": at,
            "delivered_at": at if status == "delivered" else None}


def _digest_item(event_id: str, carried_by: str | None, age: timedelta) -> dict[str, Any]:
    return {"subscription_id": "s1", "event_id": event_id, "notice_id": f"n-{event_id}",
            "created_at": _ago(age), "delivery_id": carried_by}


def _notice(notice_id: str, age: timedelta) -> dict[str, Any]:
    return {"id": f"n-{notice_id}", "body": "{}", "created_at": _ago(age)}


def _ids(container: Notifications, column: Any) -> set[str]:
    with container.engine.connect() as connection:
        return set(connection.execute(select(column)).scalars())


def test_rows_past_their_retention_are_purged_and_younger_or_owed_ones_kept(
        notifications: Notifications) -> None:
    settled = timedelta(days=notifications.config.delivery_retention_days)
    processed = timedelta(hours=notifications.config.processed_events_retention_hours)
    with notifications.engine.begin() as connection:
        connection.execute(PROCESSED.insert(), [_processed("old", processed + DAY),
                                                _processed("young", processed - DAY)])
        connection.execute(tables.deliveries.insert(), [
            _delivery("delivered-old", "delivered", settled + DAY),
            _delivery("dead-old", "dead", settled + DAY),
            _delivery("pending-old", "pending", settled + DAY),  # still owed: kept
            _delivery("delivered-young", "delivered", settled - DAY)])
        connection.execute(tables.digest_items.insert(), [
            _digest_item("carried-old", "delivered-old", settled + DAY),
            _digest_item("waiting-old", None, settled + DAY),  # not sent yet: kept
            _digest_item("carried-young", "delivered-young", settled - DAY)])
        # each delivery's and item's notice as old as it, and two that nothing carries
        connection.execute(tables.notices.insert(), [
            _notice(name, settled + DAY if name.endswith("old") else settled - DAY)
            for name in ("delivered-old", "dead-old", "pending-old", "delivered-young",
                         "carried-old", "waiting-old", "carried-young", "orphan-old",
                         "orphan-young")])
    counted = ROWS_PURGED.labels(SERVICE, "deliveries")._value.get()

    deleted = purge_all(SERVICE, notifications.purges())

    assert {table: deleted[table] for table in ("processed_events", "deliveries",
                                                 "digest_items", "notices")} == {
        "processed_events": 1, "deliveries": 2, "digest_items": 1, "notices": 4}
    assert _ids(notifications, PROCESSED.c.event_id) == {"young"}
    assert _ids(notifications, tables.deliveries.c.id) == {"pending-old", "delivered-young"}
    assert _ids(notifications, tables.digest_items.c.event_id) == {"waiting-old",
                                                                   "carried-young"}
    # the notices of the rows purged went in the same round (notices are purged last)
    assert _ids(notifications, tables.notices.c.id) == {
        "n-pending-old", "n-delivered-young", "n-waiting-old", "n-carried-young",
        "n-orphan-young"}
    assert ROWS_PURGED.labels(SERVICE, "deliveries")._value.get() - counted == 2
    assert purge_all(SERVICE, notifications.purges())["deliveries"] == 0


def test_a_large_backlog_is_purged_in_transactions_of_one_batch_each(
        notifications: Notifications) -> None:
    with notifications.engine.begin() as connection:
        connection.execute(PROCESSED.insert(), [_processed(f"e{n}", 30 * DAY) for n in range(30)])
    commits: list[int] = []

    def count(_connection: object) -> None:
        commits.append(1)

    event.listen(notifications.engine, "commit", count)
    try:
        deleted = purge_expired(notifications.engine, Retention(PROCESSED, "processed_at", DAY),
                                batch=7)
    finally:
        event.remove(notifications.engine, "commit", count)
    assert deleted == 30
    assert len(commits) == 5  # 7 + 7 + 7 + 7 + 2
    assert not _ids(notifications, PROCESSED.c.event_id)


def _missing_table() -> Retention:
    """A retention whose table this database does not have: the real database refuses it."""
    table = Table("no_such_table", MetaData(), Column("id", String(10), primary_key=True),
                  Column("at", String(30)))
    return Retention(table, "at", DAY)


@pytest.mark.handled_errors("retention_purge")
def test_a_purge_that_fails_is_counted_and_the_other_purges_and_the_loop_go_on(
        notifications: Notifications, run_in_background: Any) -> None:
    failures = HANDLED_ERRORS.labels(SERVICE, "retention_purge")
    before = failures._value.get()
    purges = {"no_such_table": partial(purge_expired, notifications.engine, _missing_table()),
              **notifications.purges()}
    with notifications.engine.begin() as connection:
        connection.execute(PROCESSED.insert(), [_processed("old-1", 30 * DAY)])

    run_in_background(housekeeping_loop(SERVICE, purges, interval_seconds=0.05))
    deadline = time.monotonic() + 10
    while _ids(notifications, PROCESSED.c.event_id) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _ids(notifications, PROCESSED.c.event_id)
    # the loop is still running: a row aged later is purged by a later round
    with notifications.engine.begin() as connection:
        connection.execute(PROCESSED.insert(), [_processed("old-2", 30 * DAY)])
    while _ids(notifications, PROCESSED.c.event_id) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _ids(notifications, PROCESSED.c.event_id)
    assert failures._value.get() - before >= 2


def test_an_event_id_inside_the_window_is_still_recognised_after_a_purge(
        notifications: Notifications) -> None:
    ledger = ProcessedEvents(PROCESSED, "okr-notifications")
    window = timedelta(hours=notifications.config.processed_events_retention_hours)
    with notifications.engine.begin() as connection:
        connection.execute(PROCESSED.insert(), [_processed("forgotten", window + DAY),
                                                _processed("remembered", window - DAY)])
    purge_all(SERVICE, notifications.purges())
    with notifications.engine.begin() as connection:
        new = ledger.record_new(connection, {"forgotten", "remembered", "fresh"})
    # inside the window a redelivery is dropped; past it, the id is new again
    assert new == {"forgotten", "fresh"}


def _config(tmp_path: Any, **variables: str) -> NotificationsConfig:
    return NotificationsConfig.from_env({"OKR_DATA_DIR": str(tmp_path), **variables})


def test_the_processed_id_retention_may_not_be_shorter_than_the_outbox_retention(
        tmp_path: Any) -> None:
    assert _config(tmp_path).processed_events_retention_hours == 336.0
    # unset, it follows a longer outbox retention
    assert _config(tmp_path, OKR_OUTBOX_RETENTION_HOURS="240"
                   ).processed_events_retention_hours == 480.0
    assert _config(tmp_path, OKR_OUTBOX_RETENTION_HOURS="48",
                   OKR_PROCESSED_EVENTS_RETENTION_HOURS="48"
                   ).processed_events_retention_hours == 48.0
    with pytest.raises(ConfigurationError, match="OKR_PROCESSED_EVENTS_RETENTION_HOURS"):
        _config(tmp_path, OKR_PROCESSED_EVENTS_RETENTION_HOURS="24")


def test_a_delivery_retention_that_is_not_a_positive_number_of_days_is_refused(
        tmp_path: Any) -> None:
    assert _config(tmp_path, OKR_DELIVERY_RETENTION_DAYS="7").delivery_retention_days == 7.0
    with pytest.raises(ConfigurationError, match="OKR_DELIVERY_RETENTION_DAYS"):
        _config(tmp_path, OKR_DELIVERY_RETENTION_DAYS="0")
