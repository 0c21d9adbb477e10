"""Many rows in one statement (``shared/persistence/dialects.py``), on SQLite and PostgreSQL:
whatever form the rows take (one array per column on PostgreSQL, or one after another),
an upsert and an insert that ignores duplicates leave the same table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Engine, Float, Integer, MetaData, String, Table, select

from shared.persistence.dialects import among, among_rows, insert_many_ignoring_duplicates, upsert
from shared.persistence.engine import create_database_engine
from shared.persistence.types import UtcDateTime
from tests.support.databases import PostgresDatabases, require_postgres

metadata = MetaData()
items = Table(
    "items", metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("weight", Float, nullable=True),
    Column("count", Integer, nullable=False),
    Column("at", UtcDateTime(), nullable=True),
    Column("payload", String(2000), nullable=True),
)
documents = Table(  # a column that does not fit in an array: rows go one after another
    "documents", metadata,
    Column("id", String(36), primary_key=True),
    Column("body", JSON, nullable=False),
)
AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
QUOTED = '{"say": "\\"quoted\\", back\\\\slash", "list": [1, "a,b"]}'


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rows.db'}"
    else:
        require_postgres()
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        url = databases.empty("many_rows")
    engine = create_database_engine(url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _all(engine: Engine, table: Table) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(table).order_by(table.c.id))]


def _item(key: str, **changed: Any) -> dict[str, Any]:
    return {"id": key, "kind": "k", "weight": 0.5, "count": 1, "at": AT, "payload": QUOTED,
            **changed}


def test_an_upsert_inserts_new_rows_and_overwrites_held_ones_with_every_value_intact(
        engine: Engine) -> None:
    with engine.begin() as connection:
        upsert(connection, items, [_item("a"), _item("b", weight=None, at=None)], ["id"])
    with engine.begin() as connection:  # integers and floats mixed in a float column
        upsert(connection, items, [_item("b", weight=2, count=7),
                                   _item("c", weight=1.25, payload=None)], ["id"])
    assert _all(engine, items) == [
        ("a", "k", 0.5, 1, AT, QUOTED), ("b", "k", 2.0, 7, AT, QUOTED),
        ("c", "k", 1.25, 1, AT, None)]


def test_an_upsert_of_one_key_twice_keeps_the_last_and_add_up_counts_both(
        engine: Engine) -> None:
    with engine.begin() as connection:
        upsert(connection, items, [_item("a", count=2), _item("a", count=3, kind="last")],
               ["id"], add_up="count")
    assert _all(engine, items) == [("a", "last", 0.5, 5, AT, QUOTED)]


def test_an_upsert_keeps_the_greater_value_when_asked(engine: Engine) -> None:
    with engine.begin() as connection:
        upsert(connection, items, [_item("a", count=5), _item("b", count=1)], ["id"])
        upsert(connection, items, [_item("a", count=3), _item("b", count=4)], ["id"],
               keep_greater="count")
    assert [(row[0], row[3]) for row in _all(engine, items)] == [("a", 5), ("b", 4)]


def test_an_insert_ignoring_duplicates_keeps_held_rows_and_the_first_of_a_repeated_key(
        engine: Engine) -> None:
    with engine.begin() as connection:
        insert_many_ignoring_duplicates(connection, items, [_item("a", kind="first")])
    with engine.begin() as connection:
        insert_many_ignoring_duplicates(connection, items, [
            _item("a", kind="second"), _item("b", kind="first"), _item("b", kind="second")])
    assert [(row[0], row[1]) for row in _all(engine, items)] == [("a", "first"),
                                                                 ("b", "first")]


def test_values_shared_by_every_row_are_written_into_each_and_held_rows_stay(
        engine: Engine) -> None:
    with engine.begin() as connection:
        insert_many_ignoring_duplicates(connection, items, [_item("a", kind="held")])
    with engine.begin() as connection:
        insert_many_ignoring_duplicates(
            connection, items, [{"id": key, "kind": kind, "payload": None}
                                for key, kind in (("a", "new"), ("b", "x"), ("c", "y"))],
            {"weight": 2.0, "count": 7, "at": AT})
    assert _all(engine, items) == [("a", "held", 0.5, 1, AT, QUOTED),
                                   ("b", "x", 2.0, 7, AT, None), ("c", "y", 2.0, 7, AT, None)]


def test_rows_that_do_not_fit_in_arrays_are_written_one_after_another(engine: Engine) -> None:
    with engine.begin() as connection:
        upsert(connection, documents, [{"id": "a", "body": {"n": 1}},
                                       {"id": "b", "body": [1, 2]}], ["id"])
        upsert(connection, documents, [{"id": "a", "body": {"n": 2}}], ["id"])
        insert_many_ignoring_duplicates(connection, documents, [{"id": "b", "body": None},
                                                                {"id": "c", "body": "x"}])
    assert _all(engine, documents) == [("a", {"n": 2}), ("b", [1, 2]), ("c", "x")]


def test_among_selects_by_one_column_or_by_pairs(engine: Engine) -> None:
    with engine.begin() as connection:
        upsert(connection, items, [_item(key, kind=kind) for key, kind in
                                   (("a", "x"), ("b", "y"), ("c", "x"))], ["id"])
    with engine.connect() as connection:
        by_id = connection.execute(select(items.c.id).where(
            among(connection, items.c.id, ["c", "a", "z", "a"])).order_by(items.c.id))
        by_pair = connection.execute(select(items.c.id).where(among_rows(
            connection, (items.c.id, items.c.kind), [("a", "x"), ("b", "x"), ("c", "x")]))
        ).scalars()
        assert list(by_id.scalars()) == ["a", "c"]
        assert sorted(by_pair) == ["a", "c"]
