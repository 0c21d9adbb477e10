"""Engines for the two supported databases: SQLite files (embedded default) and PostgreSQL."""

from __future__ import annotations

from typing import Any

from psycopg.types.array import ListBinaryDumper
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 15_000


def normalise_url(url: str) -> str:
    """Use psycopg 3 for any PostgreSQL URL that names no driver."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def create_database_engine(url: str, **options: Any) -> Engine:
    """An engine with the settings this platform relies on.

    SQLite runs in WAL mode with a busy timeout, foreign keys on, and transactions started
    by SQLAlchemy so that a connection may ask for ``BEGIN IMMEDIATE`` (execution option
    ``sqlite_begin="IMMEDIATE"``) before it writes, which avoids lock-upgrade deadlocks
    between the API and the background workers sharing one file.

    PostgreSQL connections send Python lists (array parameters) in binary: psycopg's text
    format escapes every quote of every element with a regular expression, which cost more
    than the database's work for an array of JSON documents
    (``shared/persistence/dialects.py`` passes rows as one array per column).
    """
    url = normalise_url(url)
    if not is_sqlite(url):
        options.setdefault("pool_pre_ping", True)
        if "poolclass" not in options:
            options.setdefault("pool_size", 10)
            options.setdefault("max_overflow", 20)
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _binary_arrays)
        return engine

    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **options)

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _binary_arrays(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)


def writing(engine: Engine) -> Engine:
    """The same engine, asking SQLite for the write lock at BEGIN (no-op elsewhere)."""
    if is_sqlite(engine):
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine
