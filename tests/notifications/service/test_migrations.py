"""The notifications migrations: at head they build exactly the tables the code declares,
and revision 0003 (digest schedules) goes down and up again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from services.notifications.adapters import tables
from services.notifications.entrypoints.cli import MIGRATIONS
from shared.persistence.engine import normalise_url
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
