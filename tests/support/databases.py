"""Per-test databases: a copied SQLite file, or a PostgreSQL database cloned from a template.

The PostgreSQL server is the one CI provides (``OKR_TEST_POSTGRES_URL``). When it cannot
be reached the PostgreSQL half is skipped, unless ``OKR_REQUIRE_POSTGRES=1`` (set by
``.ci/run``), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from shared.persistence.migrations import upgrade_to_head

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("OKR_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


def postgres_available() -> str | None:
    """None when the server answers, else the reason it does not."""
    try:
        with psycopg.connect(admin_url(), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip()


def require_postgres() -> None:
    reason = postgres_available()
    if reason is None:
        return
    message = f"PostgreSQL unreachable at {admin_url()}: {reason}"
    if os.environ.get("OKR_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + " (OKR_REQUIRE_POSTGRES=1)")
    pytest.skip(message)


def database_url_named(name: str) -> str:
    return make_url(admin_url()).set(database=name).render_as_string(hide_password=False)


class PostgresDatabases:
    """Creates ``okr_test_<run>_*`` databases and drops every one of them at the end."""

    def __init__(self) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.created: list[str] = []
        self.templates: dict[str, str] = {}
        self.shared_urls: dict[str, str] = {}

    def _execute(self, sql: str) -> None:
        with psycopg.connect(admin_url(), autocommit=True) as connection:
            connection.execute(sql)

    def template(self, service: str, migrations: Path) -> str:
        if service not in self.templates:
            name = f"okr_test_{self.run_id}_{service}_template"
            self._execute(f'CREATE DATABASE "{name}"')
            self.created.append(name)
            upgrade_to_head(migrations, database_url_named(name))
            self.templates[service] = name
        return self.templates[service]

    def new(self, service: str, migrations: Path) -> str:
        template = self.template(service, migrations)
        name = f"okr_test_{self.run_id}_{service}_{uuid.uuid4().hex[:8]}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.created.append(name)
        return database_url_named(name)

    def empty(self, purpose: str) -> str:
        """A new database with no tables (dropped with the others at the end)."""
        name = f"okr_test_{self.run_id}_{purpose}_{uuid.uuid4().hex[:8]}"
        self._execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return database_url_named(name)

    def shared(self, service: str, migrations: Path) -> str:
        """One migrated database per service for the whole run; :meth:`reset` between tests.

        Cloning a database per test costs about a second on this server; emptying the
        tables of a shared one costs a few milliseconds.
        """
        if service not in self.shared_urls:
            self.shared_urls[service] = self.new(service, migrations)
        return self.shared_urls[service]

    def reset(self, url: str, table_names: list[str]) -> None:
        """Empty every table (children first); end sessions a previous test left behind if
        they hold locks. DELETE is used because TRUNCATE takes 30 times longer here."""
        statements = [f'DELETE FROM "{name}"' for name in reversed(table_names)]
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("SET lock_timeout = '5s'")
            try:
                with connection.transaction():
                    for statement in statements:
                        connection.execute(statement)
            except psycopg.errors.LockNotAvailable:
                connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                with connection.transaction():
                    for statement in statements:
                        connection.execute(statement)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in reversed(self.created):
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


class SqliteDatabases:
    """Migrates one SQLite file per service and copies it for each test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.templates: dict[str, Path] = {}

    def new(self, service: str, migrations: Path, directory: Path) -> str:
        if service not in self.templates:
            template = self.root / f"{service}-template.db"
            upgrade_to_head(migrations, f"sqlite:///{template}")
            self.templates[service] = template
        target = directory / f"{service}.db"
        shutil.copyfile(self.templates[service], target)
        return f"sqlite:///{target}"
