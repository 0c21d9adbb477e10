"""Fixtures for the concurrency tests: seeded goals, and the goals service on real gunicorn."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from bench.http_load import GOALS_WSGI, HttpClient, Server, gunicorn
from services.goals.adapters import tables
from services.goals.bootstrap import Goals
from services.goals.config import GoalsConfig
from services.goals.service_layer.reference_data import seed_default_departments
from tests.conftest import ADMIN_TOKEN, ApiClient

CYCLE = "2026-Q4"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass(frozen=True)
class Seeded:
    objective_id: str
    key_result_ids: list[str]


@pytest.fixture
def seeded_goals(api: ApiClient, goals: Goals) -> Seeded:
    """Default departments, a cycle, a sales objective with three key results."""
    seed_default_departments(goals.unit_of_work())
    assert api.post("/v1/cycles", json={"key": CYCLE, "starts_on": "2026-10-01",
                                        "ends_on": "2026-12-31"}).status_code == 201
    objective = api.post("/v1/objectives", json={
        "cycle": CYCLE, "kind": "department", "departments": ["sales"], "owner": "Sam",
        "title": "Win the north"})
    assert objective.status_code == 201, objective.get_json()
    objective_id = objective.get_json()["id"]
    key_results = []
    for number in range(3):
        created = api.post(f"/v1/objectives/{objective_id}/key-results", json={
            "title": f"New revenue {number}", "measure": "increase", "start": 0,
            "target": 1000, "unit": "EUR"})
        assert created.status_code == 201, created.get_json()
        key_results.append(created.get_json()["id"])
    return Seeded(objective_id, key_results)


def count_rows(goals: Goals, table: Any, *where: Any) -> int:
    with goals.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)
                                      .where(*where)).scalar_one())


def events_of(goals: Goals, event_type: str) -> int:
    outbox = tables.plumbing.outbox
    return count_rows(goals, outbox, outbox.c.event_type == event_type)


@pytest.fixture
def served(goals_config: GoalsConfig, seeded_goals: Seeded) -> Iterator[Server]:
    """The goals service on gunicorn (2 workers x 8 threads) over the test's database."""
    env = {"OKR_GOALS_DATABASE_URL": goals_config.database_url,
           "OKR_ADMIN_TOKEN": ADMIN_TOKEN,
           "OKR_KAFKA_BOOTSTRAP_SERVERS": goals_config.kafka.bootstrap_servers,
           "OKR_LOG_LEVEL": "WARNING"}
    with gunicorn(GOALS_WSGI, env, workers=2, threads=8) as server:
        yield server


def http_client(server: Server) -> HttpClient:
    return HttpClient(server.host, server.port, ADMIN)
