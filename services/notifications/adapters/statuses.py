"""The status watch of every objective and who was told of an alarm, in the database (the
service layer's ``Statuses``; writes at once)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, select

from services.notifications.adapters import tables
from services.notifications.domain.notices import Notice
from services.notifications.domain.settling import Watch
from shared.persistence.dialects import among, skipping_locked, upsert

W = tables.status_watch
TOLD = tables.alarms_told


def _notice(text: str | None) -> Notice | None:
    return None if text is None else Notice.from_dict(json.loads(text))


def _watch(row: Row[Any]) -> Watch:
    notice = _notice(row.notice)
    assert notice is not None
    return Watch(objective_id=row.objective_id, status=row.status, since=row.since,
                 event_id=row.event_id, notice=notice, due_at=row.due_at,
                 announced=row.announced, announced_event_id=row.announced_event_id,
                 announced_notice=_notice(row.announced_notice))


def _watch_row(watch: Watch) -> dict[str, Any]:
    announced = watch.announced_notice
    return {
        "objective_id": watch.objective_id, "status": watch.status, "since": watch.since,
        "event_id": watch.event_id, "notice": json.dumps(watch.notice.to_dict()),
        "due_at": watch.due_at, "announced": watch.announced,
        "announced_event_id": watch.announced_event_id,
        "announced_notice": None if announced is None else json.dumps(announced.to_dict()),
    }


class StatusRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def watch(self, objective_id: str) -> Watch | None:
        """The objective's watch, locked to this transaction (PostgreSQL)."""
        # FOR UPDATE on PostgreSQL; SQLite has no such clause (its writers take turns)
        row = self.connection.execute(
            select(W).where(W.c.objective_id == objective_id).with_for_update()).first()
        return None if row is None else _watch(row)

    def watches(self, objective_ids: Iterable[str]) -> dict[str, Watch]:
        """The watches of these objectives (those that have one), locked to this
        transaction in the order of their ids (PostgreSQL), in one round trip."""
        ids = sorted(set(objective_ids))
        if not ids:
            return {}
        rows = self.connection.execute(
            select(W).where(among(self.connection, W.c.objective_id, ids))
            .order_by(W.c.objective_id).with_for_update())
        return {row.objective_id: _watch(row) for row in rows}

    def save(self, watch: Watch) -> None:
        self.save_many([watch])

    def save_many(self, watches: Iterable[Watch]) -> None:
        """Write these watches in one statement (one per objective: the last given wins)."""
        rows = {watch.objective_id: _watch_row(watch) for watch in watches}
        if rows:
            upsert(self.connection, W, [rows[key] for key in sorted(rows)], ["objective_id"])

    def claim_due(self, now: datetime, limit: int) -> list[Watch]:
        """Watches whose wait ended, locked to this transaction; another worker's skipped."""
        query = (select(W).where(W.c.due_at.is_not(None), W.c.due_at <= now)
                 .order_by(W.c.due_at).limit(limit))
        return [_watch(row) for row in self.connection.execute(
            skipping_locked(self.connection, query))]

    def remember_told(self, told: Iterable[tuple[str, str, str, str]], now: datetime) -> None:
        """(subscription id, objective id, status, event id): that subscription was told."""
        rows = [{"subscription_id": s, "objective_id": o, "status": status, "event_id": e,
                 "told_at": now} for s, o, status, e in told]
        if rows:
            upsert(self.connection, TOLD, rows, ["subscription_id", "objective_id"])

    def told(self, objective_id: str) -> list[tuple[str, str, str]]:
        """(subscription id, status, event id) of each subscription told of the
        objective's alarm (not yet of its recovery)."""
        rows = self.connection.execute(
            select(TOLD.c.subscription_id, TOLD.c.status, TOLD.c.event_id)
            .where(TOLD.c.objective_id == objective_id).order_by(TOLD.c.subscription_id))
        return [(row[0], row[1], row[2]) for row in rows]

    def told_many(self, objective_ids: Iterable[str]) -> dict[str, list[tuple[str, str, str]]]:
        """:meth:`told` of each of these objectives, in one round trip."""
        ids = sorted(set(objective_ids))
        found: dict[str, list[tuple[str, str, str]]] = {objective_id: [] for objective_id in ids}
        if ids:
            rows = self.connection.execute(
                select(TOLD.c.objective_id, TOLD.c.subscription_id, TOLD.c.status,
                       TOLD.c.event_id).where(among(self.connection, TOLD.c.objective_id, ids))
                .order_by(TOLD.c.objective_id, TOLD.c.subscription_id))
            for row in rows:
                found[row[0]].append((row[1], row[2], row[3]))
        return found

    def forget_told(self, objective_id: str) -> None:
        self.forget_told_many([objective_id])

    def forget_told_many(self, objective_ids: Iterable[str]) -> None:
        ids = sorted(set(objective_ids))
        if ids:
            self.connection.execute(
                delete(TOLD).where(among(self.connection, TOLD.c.objective_id, ids)))
