"""deploy/postgres/init-databases.sh, run for real against the test PostgreSQL server:
one database per service, owned by its own role, closed to every other role."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.platform.deploy.conftest import DEPLOY, run_tool, tool
from tests.support.databases import admin_url, require_postgres

SCRIPT = DEPLOY / "postgres" / "init-databases.sh"

pytestmark = pytest.mark.postgres


@pytest.fixture
def services() -> Iterator[list[str]]:
    """Two service names unique to this test; their databases and roles dropped after."""
    require_postgres()
    run = uuid.uuid4().hex[:8]
    names = [f"okr_init_{run}_a", f"okr_init_{run}_b"]
    yield names
    with psycopg.connect(admin_url(), autocommit=True) as connection:
        for name in names:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'DROP ROLE IF EXISTS "{name}"')


def script_environment(services: list[str], passwords: dict[str, str]) -> dict[str, str]:
    url = make_url(admin_url())
    environment = {"PATH": os.environ["PATH"], "OKR_DATABASES": " ".join(services),
                   "PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432),
                   "PGUSER": url.username or "postgres"}
    if url.password:
        environment["PGPASSWORD"] = url.password
    for service, password in passwords.items():
        environment[f"OKR_{service.upper()}_DB_PASSWORD"] = password
    return environment


def test_each_service_gets_its_own_database_owned_by_its_own_role(services: list[str]) -> None:
    tool("psql")
    # A quote in a password must neither break the script nor inject SQL.
    passwords = {services[0]: "it's \"quoted\"; DROP ROLE x", services[1]: "plain"}
    result = run_tool(["sh", str(SCRIPT)], env=script_environment(services, passwords))
    assert result.returncode == 0, result.stderr
    with psycopg.connect(admin_url()) as connection:
        rows = connection.execute(
            "SELECT datname, pg_get_userbyid(datdba), has_database_privilege('public', oid, "
            "'CONNECT') FROM pg_database WHERE datname = ANY(%s) ORDER BY datname",
            (services,)).fetchall()
    assert rows == [(name, name, False) for name in sorted(services)]


def test_a_missing_password_stops_the_script_before_creating_anything(
        services: list[str]) -> None:
    tool("psql")
    result = run_tool(["sh", str(SCRIPT)], env=script_environment(services, {}))
    assert result.returncode != 0
    assert f"OKR_{services[0].upper()}_DB_PASSWORD is not set" in result.stderr
    with psycopg.connect(admin_url()) as connection:
        found = connection.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)",
                                   (services,)).fetchone()
    assert found == (0,)
