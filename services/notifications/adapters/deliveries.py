"""Deliveries and digest items in the database: recorded once, claimed under a lease.

A worker claims due deliveries by writing its id and a lease expiry on them in one short
transaction (on PostgreSQL the rows are read ``FOR UPDATE SKIP LOCKED``, so workers never
wait on each other; SQLite serialises writers anyway). A worker killed mid-delivery leaves
its lease behind; once it expires any worker claims the delivery again, with the same id.

A notice is stored once (``notices``) and referenced by every event delivery and digest
item that carries it: a status change matched by many subscriptions writes its JSON once,
not once per subscription. A digest delivery keeps its own payload (its digest).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)

from services.notifications.adapters import tables
from services.notifications.domain.deliveries import DELIVERED, PENDING, Delivery
from services.notifications.domain.notices import Notice
from shared.persistence.dialects import (
    advisory_xact_locks,
    among,
    among_rows,
    insert_ignoring_duplicates,
    insert_many_ignoring_duplicates,
    skipping_locked,
)

D = tables.deliveries
ITEMS = tables.digest_items
NOTICES = tables.notices
#: A notice that no delivery or digest item carries (any more): the retention purges it.
UNREFERENCED_NOTICE = and_(~exists().where(D.c.notice_id == NOTICES.c.id),
                           ~exists().where(ITEMS.c.notice_id == NOTICES.c.id))
#: Advisory-lock names of the per-recipient hourly caps (PostgreSQL), see ``lock_recipients``.
CAP_LOCK_PREFIX = "okr-notifications-cap:"

# One constant statement (compiled once, cached): it runs for every attempt.
_FINISH = update(D).where(
    D.c.id == bindparam("b_id"), D.c.lease_owner == bindparam("b_owner"),
    D.c.status == PENDING,
).values(status=bindparam("b_status"), attempts=bindparam("b_attempts"),
         next_attempt_at=bindparam("b_next"), last_error=bindparam("b_error"),
         lease_owner=None, lease_until=None, updated_at=bindparam("b_now"),
         delivered_at=bindparam("b_delivered"))


def _new_delivery(delivery_id: str, subscription_id: str, recipient: str, channel: str,
                  kind: str, event_id: str, message_type: str, objective_id: str | None,
                  now: datetime) -> dict[str, Any]:
    return {"id": delivery_id, "subscription_id": subscription_id, "recipient": recipient,
            "channel": channel, "kind": kind, "event_id": event_id,
            "message_type": message_type, "objective_id": objective_id,
            "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
            "updated_at": now}


#: A delivery with its data: its own payload (a digest), or its notice's (an event).
_WITH_DATA = select(D, NOTICES.c.body.label("notice_body")).outerjoin(
    NOTICES, D.c.notice_id == NOTICES.c.id)


def _delivery(row: Row[Any]) -> Delivery:
    data = row.payload if row.payload is not None else row.notice_body
    return Delivery(id=row.id, subscription_id=row.subscription_id, recipient=row.recipient,
                    channel=row.channel, kind=row.kind, event_id=row.event_id,
                    message_type=row.message_type, objective_id=row.objective_id,
                    payload=json.loads(data), status=row.status, attempts=row.attempts,
                    next_attempt_at=row.next_attempt_at, last_error=row.last_error,
                    created_at=row.created_at, updated_at=row.updated_at,
                    delivered_at=row.delivered_at)


class DeliveryRepository:
    """Deliveries and digest items (the service layer's ``Deliveries``); writes at once."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    # -- recording -----------------------------------------------------------------------

    def add(self, *, delivery_id: str, subscription_id: str, recipient: str, channel: str,
            kind: str, event_id: str, message_type: str, objective_id: str | None,
            payload: dict[str, Any], now: datetime) -> bool:
        """Record a delivery; False when this subscription already has one for the event."""
        return insert_ignoring_duplicates(self.connection, D, {**_new_delivery(
            delivery_id, subscription_id, recipient, channel, kind, event_id, message_type,
            objective_id, now), "payload": json.dumps(payload)})

    def record(self, immediate: list[tuple[str, str, str, Notice]],
               items: list[tuple[str, Notice]], now: datetime) -> None:
        """The immediate deliveries (subscription id, recipient, channel, notice) and digest
        items (subscription id, notice) of a batch: each notice stored once, however many
        deliveries and items carry it, and one statement per table. A (subscription, event)
        that already has a delivery, or a waiting item, keeps it (the first given wins, as
        one insert after another would); the notice stored for it then stays unreferenced
        until the retention purges it."""
        notices: dict[int, dict[str, Any]] = {}  # by the notice object: each serialised once

        def stored(notice: Notice) -> str:
            row = notices.get(id(notice))
            if row is None:
                row = notices[id(notice)] = {"id": str(uuid.uuid4()),
                                             "body": json.dumps(notice.to_dict())}
            return str(row["id"])

        deliveries: dict[tuple[str, str], dict[str, Any]] = {}
        for subscription_id, recipient, channel, notice in immediate:
            key = (subscription_id, notice.event_id)
            if key not in deliveries:
                deliveries[key] = {
                    "id": str(uuid.uuid4()), "subscription_id": subscription_id,
                    "recipient": recipient, "channel": channel, "event_id": notice.event_id,
                    "message_type": notice.event_type, "objective_id": notice.objective_id,
                    "notice_id": stored(notice)}
        waiting: dict[tuple[str, str], dict[str, Any]] = {}
        for subscription_id, notice in items:
            key = (subscription_id, notice.event_id)
            if key not in waiting:
                waiting[key] = {"subscription_id": subscription_id,
                                "event_id": notice.event_id, "notice_id": stored(notice)}
        # the notices first: nothing references one that is not there
        insert_many_ignoring_duplicates(self.connection, NOTICES, list(notices.values()),
                                        {"created_at": now})
        insert_many_ignoring_duplicates(self.connection, D, list(deliveries.values()), {
            "kind": "event", "status": PENDING, "attempts": 0, "next_attempt_at": now,
            "created_at": now, "updated_at": now})
        insert_many_ignoring_duplicates(self.connection, ITEMS, list(waiting.values()),
                                        {"created_at": now})

    def drop_digest_items_of(self, items: list[tuple[str, str]]) -> None:
        """Remove the waiting digest items (subscription id, event id) given."""
        if items:  # one statement for the batch
            self.connection.execute(ITEMS.delete().where(
                among_rows(self.connection, (ITEMS.c.subscription_id, ITEMS.c.event_id),
                           items),
                ITEMS.c.delivery_id.is_(None)))

    def lock_recipients(self, recipients: set[str]) -> None:
        """Hold each recipient's cap until this transaction ends (PostgreSQL).

        Workers handling events for the same recipient at once take turns from here to
        their commit, so each counts the other's immediate deliveries and together they
        never exceed the hourly cap. Locks are taken in one order, so two workers cannot
        deadlock; SQLite runs one writer at a time anyway."""
        advisory_xact_locks(self.connection,
                            [CAP_LOCK_PREFIX + recipient for recipient in recipients])

    def immediate_since(self, recipients: set[str], since: datetime) -> dict[str, int]:
        """Immediate (non-digest) deliveries made for each recipient since ``since``."""
        if not recipients:
            return {}
        rows = self.connection.execute(
            select(D.c.recipient, func.count()).where(
                among(self.connection, D.c.recipient, recipients), D.c.kind == "event",
                D.c.created_at >= since).group_by(D.c.recipient))
        return {row[0]: int(row[1]) for row in rows}

    def told_of(self, event_id: str) -> set[str]:
        """The subscriptions that already have a delivery of this event."""
        return set(self.connection.execute(
            select(D.c.subscription_id).where(D.c.event_id == event_id)).scalars())

    # -- digests -------------------------------------------------------------------------

    def digest_backlog(self) -> list[tuple[str, datetime]]:
        """(subscription id, oldest waiting item's time) for every subscription with items."""
        rows = self.connection.execute(
            select(ITEMS.c.subscription_id, func.min(ITEMS.c.created_at))
            .where(ITEMS.c.delivery_id.is_(None)).group_by(ITEMS.c.subscription_id))
        return [(row[0], row[1]) for row in rows]

    def take_digest_items(self, subscription_id: str, delivery_id: str) -> list[Notice]:
        """Attach every waiting item of the subscription to the digest; return their notices."""
        query = (select(ITEMS.c.position, NOTICES.c.body)
                 .join(NOTICES, ITEMS.c.notice_id == NOTICES.c.id)
                 .where(ITEMS.c.subscription_id == subscription_id,
                        ITEMS.c.delivery_id.is_(None))
                 .order_by(ITEMS.c.position))
        # another worker's digest (only the items are locked: a notice is never written)
        query = skipping_locked(self.connection, query, of=ITEMS)
        rows = self.connection.execute(query).all()
        if rows:
            self.connection.execute(update(ITEMS).where(
                ITEMS.c.position.in_([row.position for row in rows])
            ).values(delivery_id=delivery_id))
        return [Notice.from_dict(json.loads(row.body)) for row in rows]

    def drop_digest_items(self, subscription_id: str) -> None:
        self.connection.execute(ITEMS.delete().where(ITEMS.c.subscription_id == subscription_id,
                                                     ITEMS.c.delivery_id.is_(None)))

    # -- sending -------------------------------------------------------------------------

    def claim_due(self, owner: str, now: datetime, lease: timedelta,
                  limit: int) -> list[Delivery]:
        due = (select(D.c.id).where(
            D.c.status == PENDING, D.c.next_attempt_at <= now,
            or_(D.c.lease_until.is_(None), D.c.lease_until < now))
            .order_by(D.c.next_attempt_at).limit(limit))
        due = skipping_locked(self.connection, due)
        ids = list(self.connection.execute(due).scalars())
        if not ids:
            return []
        self.connection.execute(update(D).where(D.c.id.in_(ids)).values(
            lease_owner=owner, lease_until=now + lease))
        rows = self.connection.execute(_WITH_DATA.where(D.c.id.in_(ids)))
        return [_delivery(row) for row in rows]

    def finish(self, delivery_id: str, owner: str, *, status: str, attempts: int,
               next_attempt_at: datetime, error: str | None, now: datetime) -> bool:
        """Record an attempt's outcome if this worker still holds the lease."""
        result = self.connection.execute(_FINISH, {
            "b_id": delivery_id, "b_owner": owner, "b_status": status, "b_attempts": attempts,
            "b_next": next_attempt_at, "b_error": error, "b_now": now,
            "b_delivered": now if status == DELIVERED else None})
        return bool(result.rowcount)

    def retry(self, delivery: Delivery, now: datetime) -> None:
        """Queue a delivery again now; a dead one starts a fresh round of attempts."""
        attempts = delivery.attempts if delivery.status == PENDING else 0
        self.connection.execute(update(D).where(D.c.id == delivery.id).values(
            status=PENDING, next_attempt_at=now, lease_owner=None, lease_until=None,
            attempts=attempts, updated_at=now))

    # -- reading -------------------------------------------------------------------------

    def get(self, delivery_id: str) -> Delivery | None:
        row = self.connection.execute(_WITH_DATA.where(D.c.id == delivery_id)).first()
        return _delivery(row) if row else None

    def page(self, *, status: str | None, subscription_id: str | None, offset: int,
             limit: int, department: str | None = None) -> tuple[list[Delivery], int]:
        conditions: list[ColumnElement[bool]] = []
        if department is not None:
            subscriptions = tables.subscriptions
            conditions.append(D.c.subscription_id.in_(
                select(subscriptions.c.id).where(subscriptions.c.department == department)))
        if status is not None:
            conditions.append(D.c.status == status)
        if subscription_id is not None:
            conditions.append(D.c.subscription_id == subscription_id)
        total = self.connection.execute(
            select(func.count()).select_from(D).where(*conditions)).scalar_one()
        rows = self.connection.execute(_WITH_DATA.where(*conditions)
                                       .order_by(D.c.created_at, D.c.id)
                                       .offset(offset).limit(limit))
        return [_delivery(row) for row in rows], int(total)
