"""Subscriptions and the goal read model in the database (SQLAlchemy Core, one connection)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Row, delete, func, or_, select, update

from services.notifications.adapters import tables
from services.notifications.domain.subscriptions import (
    Channel,
    DeliveryMode,
    Filters,
    Subscription,
)
from shared.persistence.dialects import insert_ignoring_duplicates, upsert

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
        """Delete a subscription if it is still at ``read_version``; False if not."""
        result = self.connection.execute(
            delete(T).where(T.c.id == subscription_id, T.c.version == read_version))
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
    }


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(
        id=row.id, recipient=row.recipient, department=row.department,
        channel=Channel(row.channel), target=row.target, secret=row.secret,
        filters=Filters.from_dict(json.loads(row.filters)), mode=DeliveryMode(row.mode),
        digest_interval_seconds=row.digest_interval_seconds, created_by=row.created_by,
        created_at=row.created_at, updated_at=row.updated_at, version=row.version)


class GoalReadModel:
    """What the service keeps of the goal graph: objectives, key results, links."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def put_objective(self, objective_id: str, *, title: str, kind: str,
                      departments: list[str], cycle: str, status: str | None = None) -> None:
        values: dict[str, Any] = {"id": objective_id, "title": title, "kind": kind,
                                  "departments": json.dumps(sorted(departments)),
                                  "cycle": cycle}
        if status is not None:
            values["status"] = status
        upsert(self.connection, tables.objectives, [values], ["id"])

    def remove_objective(self, objective_id: str) -> None:
        self.connection.execute(delete(tables.objectives)
                                .where(tables.objectives.c.id == objective_id))

    def objective(self, objective_id: str) -> dict[str, Any] | None:
        row = self.connection.execute(select(tables.objectives)
                                      .where(tables.objectives.c.id == objective_id)).first()
        if row is None:
            return None
        return {"id": row.id, "title": row.title, "kind": row.kind, "cycle": row.cycle,
                "departments": json.loads(row.departments), "status": row.status}

    def put_key_result(self, key_result_id: str, objective_id: str, title: str) -> None:
        upsert(self.connection, tables.key_results,
               [{"id": key_result_id, "objective_id": objective_id, "title": title}], ["id"])

    def remove_key_result(self, key_result_id: str) -> None:
        self.connection.execute(delete(tables.key_results)
                                .where(tables.key_results.c.id == key_result_id))

    def objective_of_key_result(self, key_result_id: str) -> str | None:
        return self.connection.execute(
            select(tables.key_results.c.objective_id)
            .where(tables.key_results.c.id == key_result_id)).scalar()

    def put_link(self, link_id: str, from_department: str, to_type: str, to_id: str) -> None:
        insert_ignoring_duplicates(self.connection, tables.links, {
            "id": link_id, "from_department": from_department, "to_type": to_type,
            "to_id": to_id})

    def remove_link(self, link_id: str) -> None:
        self.connection.execute(delete(tables.links).where(tables.links.c.id == link_id))

    def dependent_departments(self, objective_id: str) -> frozenset[str]:
        """Departments with a link to this objective or to one of its key results."""
        links, krs = tables.links, tables.key_results
        query = select(links.c.from_department).where(or_(
            (links.c.to_type == "objective") & (links.c.to_id == objective_id),
            (links.c.to_type == "key_result") & links.c.to_id.in_(
                select(krs.c.id).where(krs.c.objective_id == objective_id)),
        )).distinct()
        return frozenset(self.connection.execute(query).scalars())
