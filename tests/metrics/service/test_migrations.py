"""The metrics read model's migrations: at head they build exactly the tables the code
declares, and revision 0002 keeps the check-in counts held under joined departments (one
row per owning department, cycle ``unknown``), both ways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from services.metrics.adapters import tables
from services.metrics.entrypoints.cli import MIGRATIONS
from shared.persistence.engine import normalise_url
from tests.support.databases import PostgresDatabases, require_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own (migrations go up and down in it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metrics.db'}"
        return
    require_postgres()
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    yield databases.empty("metrics-migrations")


def _alembic(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def _counts(url: str) -> set[tuple[object, ...]]:
    engine = create_engine(normalise_url(url))
    with engine.connect() as connection:
        rows = {tuple(row) for row in connection.execute(text("SELECT * FROM checkin_counters"))}
    engine.dispose()
    return rows


def test_head_matches_the_tables_the_code_declares(empty_database_url: str) -> None:
    command.upgrade(_alembic(empty_database_url), "head")
    engine = create_engine(normalise_url(empty_database_url))
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), tables.metadata)
    engine.dispose()
    assert differences == []


def test_counts_under_joined_departments_go_to_each_owner_and_back(
        empty_database_url: str) -> None:
    config = _alembic(empty_database_url)
    command.downgrade(config, "base")
    command.upgrade(config, "0001")
    engine = create_engine(normalise_url(empty_database_url))
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO checkin_counters (department, count) VALUES "
                                "('marketing+sales', 3), ('sales', 2), ('finance', 7)"))
    engine.dispose()

    command.upgrade(config, "head")
    assert _counts(empty_database_url) == {
        ("sales", "unknown", 5), ("marketing", "unknown", 3), ("finance", "unknown", 7)}

    command.downgrade(config, "0001")
    assert _counts(empty_database_url) == {("sales", 5), ("marketing", 3), ("finance", 7)}
    command.upgrade(config, "head")
