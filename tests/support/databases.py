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
