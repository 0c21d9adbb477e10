"""The notifications migrations: at head they build exactly the tables the code declares,
revision 0003 (digest schedules) goes down and up again, and revision 0006 moves the
notices that rows hold into ``notices`` (and back)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from services.notifications.adapters import tables
from services.notifications.adapters.deliveries import DeliveryRepository
from services.notifications.domain.notices import Notice
from services.notifications.entrypoints.cli import MIGRATIONS
from shared.persistence.engine import normalise_url
from shared.persistence.types import UtcDateTime
from tests.support.databases import PostgresDatabases, require_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own (migrations go up and down in it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'notifications.db'}"
        return
    require_postgres()
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    yield databases.empty("notifications-migrations")


def _alembic(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def _columns(url: str) -> set[str]:
    engine = create_engine(normalise_url(url))
    try:
        return {c["name"] for c in inspect(engine).get_columns("subscriptions")}
    finally:
        engine.dispose()


def test_head_matches_the_tables_the_code_declares(empty_database_url: str) -> None:
    command.upgrade(_alembic(empty_database_url), "head")
    engine = create_engine(normalise_url(empty_database_url))
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), tables.metadata)
    engine.dispose()
    assert differences == []


def test_the_digest_schedule_column_comes_and_goes_with_its_revision(
        empty_database_url: str) -> None:
    config = _alembic(empty_database_url)
    command.upgrade(config, "head")
    assert "digest_schedule" in _columns(empty_database_url)
    command.downgrade(config, "0002")
    assert "digest_schedule" not in _columns(empty_database_url)
    command.upgrade(config, "head")
    assert "digest_schedule" in _columns(empty_database_url)


def _before_0006() -> tuple[sa.TableClause, sa.TableClause]:
    """deliveries and digest_items as revision 0005 has them (each row holds its JSON)."""
    deliveries = sa.table(
        "deliveries", *[sa.column(name) for name in (
            "id", "subscription_id", "recipient", "channel", "kind", "event_id",
            "message_type", "objective_id", "payload", "status", "attempts")],
        *[sa.column(name, UtcDateTime()) for name in (
            "next_attempt_at", "created_at", "updated_at")])
    items = sa.table("digest_items", sa.column("subscription_id"), sa.column("event_id"),
                     sa.column("notice"), sa.column("created_at", UtcDateTime()))
    return deliveries, items


def test_revision_0006_moves_each_rows_notice_into_notices_and_back(
        empty_database_url: str) -> None:
    config = _alembic(empty_database_url)
    command.upgrade(config, "0005")
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    notice = Notice(event_id="e1", event_type="okr.objective.status_changed",
                    objective_id="o1", title="Grow", kind="collective",
                    departments=("sales",), occurred_at=now, summary="'Grow' is now at_risk",
                    status="at_risk", previous_status="on_track", settled=True)
    digest = {"count": 1, "collective_targets": [], "departments": [], "links_at_risk": []}
    deliveries, items = _before_0006()
    engine = create_engine(normalise_url(empty_database_url))
    try:
        with engine.begin() as connection:
            connection.execute(deliveries.insert(), [
                {"id": delivery_id, "subscription_id": "s1", "recipient": "r", "channel":
                 "webhook", "kind": kind, "event_id": event_id, "message_type": "t",
                 "objective_id": None, "payload": json.dumps(payload), "status": "pending",
                 "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}
                for delivery_id, kind, event_id, payload in (
                    ("d-event", "event", "e1", notice.to_dict()),
                    ("d-digest", "digest", "digest:d-digest", digest))])
            connection.execute(items.insert(), [{"subscription_id": "s2", "event_id": "e1",
                                                 "notice": json.dumps(notice.to_dict()),
                                                 "created_at": now}])
        command.upgrade(config, "head")
        with engine.begin() as connection:
            stored = dict(connection.execute(sa.select(
                tables.deliveries.c.id, tables.deliveries.c.payload)).all())
            assert stored == {"d-event": None, "d-digest": json.dumps(digest)}
            repository = DeliveryRepository(connection)
            event_delivery, digest_delivery = (repository.get("d-event"),
                                               repository.get("d-digest"))
            assert event_delivery is not None and digest_delivery is not None
            assert event_delivery.payload == notice.to_dict()
            assert digest_delivery.payload == digest
            assert repository.take_digest_items("s2", "d-digest") == [notice]
            assert connection.execute(sa.select(sa.func.count()).select_from(
                tables.notices)).scalar_one() == 2
        command.downgrade(config, "0005")
        with engine.connect() as connection:
            rows = connection.execute(sa.select(deliveries.c.id, deliveries.c.payload)).all()
            assert {row.id: json.loads(row.payload) for row in rows} == {
                "d-event": notice.to_dict(), "d-digest": digest}
            assert [json.loads(text) for text in connection.execute(
                sa.select(items.c.notice)).scalars()] == [notice.to_dict()]
            assert "notices" not in inspect(connection).get_table_names()
    finally:
        engine.dispose()
