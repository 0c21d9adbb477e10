"""Subscriptions in the database (the service layer's ``Subscriptions``; writes at once)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select, update

from services.notifications.adapters import tables
from services.notifications.domain.schedules import parse_schedule, schedule_to_dict
from services.notifications.domain.subscriptions import (
    Channel,
    DeliveryMode,
    Filters,
    Subscription,
)

T = tables.subscriptions


class SubscriptionRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, subscription: Subscription) -> None:
        self.connection.execute(T.insert().values(**_row(subscription)))
        self._touch()

    def add_many(self, subscriptions: list[Subscription]) -> None:
        """Insert many at once (imports, benchmarks)."""
        self.connection.execute(T.insert(), [_row(s) for s in subscriptions])
        self._touch()

    def save(self, subscription: Subscription, read_version: int) -> bool:
        """Write a changed subscription if it is still at ``read_version``; False if not."""
        result = self.connection.execute(
            update(T).where(T.c.id == subscription.id, T.c.version == read_version)
            .values(**_row(subscription)))
        self._touch()
        return bool(result.rowcount)

    def remove(self, subscription_id: str, read_version: int) -> bool:
        """Delete a subscription if it is still at ``read_version``, and the alarms it was
        told of (it hears no recovery); False if it was not at that version."""
        result = self.connection.execute(
            delete(T).where(T.c.id == subscription_id, T.c.version == read_version))
        if result.rowcount:
            self.connection.execute(delete(tables.alarms_told).where(
                tables.alarms_told.c.subscription_id == subscription_id))
        self._touch()
        return bool(result.rowcount)

    def get(self, subscription_id: str) -> Subscription | None:
        row = self.connection.execute(select(T).where(T.c.id == subscription_id)).first()
        return _subscription(row) if row else None

    def page(self, *, department: str | None, channel: str | None, recipient: str | None,
             offset: int, limit: int) -> tuple[list[Subscription], int]:
        query = select(T)
        if department is not None:
            query = query.where(T.c.department == department)
        if channel is not None:
            query = query.where(T.c.channel == channel)
        if recipient is not None:
            query = query.where(T.c.recipient == recipient)
        total = self.connection.execute(
            select(func.count()).select_from(query.subquery())).scalar_one()
        rows = self.connection.execute(query.order_by(T.c.created_at, T.c.id)
                                       .offset(offset).limit(limit))
        return [_subscription(row) for row in rows], int(total)

    def all(self) -> list[Subscription]:
        return [_subscription(row) for row in self.connection.execute(select(T))]

    def revision(self) -> int:
        return int(self.connection.execute(
            select(tables.subscription_revision.c.revision)).scalar_one())

    def _touch(self) -> None:
        revision = tables.subscription_revision
        self.connection.execute(update(revision).where(revision.c.id == 1)
                                .values(revision=revision.c.revision + 1))


def _row(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id, "recipient": subscription.recipient,
        "department": subscription.department, "channel": subscription.channel.value,
        "target": subscription.target, "secret": subscription.secret,
        "filters": json.dumps(subscription.filters.to_dict()),
        "mode": subscription.mode.value,
        "digest_interval_seconds": subscription.digest_interval_seconds,
        "created_by": subscription.created_by, "created_at": subscription.created_at,
        "updated_at": subscription.updated_at, "version": subscription.version,
        "digest_schedule": (None if subscription.digest_schedule is None
                            else json.dumps(schedule_to_dict(subscription.digest_schedule))),
    }


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(
        id=row.id, recipient=row.recipient, department=row.department,
        channel=Channel(row.channel), target=row.target, secret=row.secret,
        filters=Filters.from_dict(json.loads(row.filters)), mode=DeliveryMode(row.mode),
        digest_interval_seconds=row.digest_interval_seconds, created_by=row.created_by,
        created_at=row.created_at, updated_at=row.updated_at, version=row.version,
        digest_schedule=(None if row.digest_schedule is None
                         else parse_schedule(json.loads(row.digest_schedule))))
