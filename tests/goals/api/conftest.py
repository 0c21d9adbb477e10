"""Fixtures for the HTTP contract tests: seeded data, callers of each role, state snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from services.goals.adapters import tables
from services.goals.bootstrap import Goals
from services.goals.service_layer.reference_data import seed_default_departments
from shared.web.problems import PROBLEM_CONTENT_TYPE, problem_type
from tests.conftest import ApiClient

CYCLE = "2026-Q4"


def snapshot(goals: Goals) -> dict[str, Any]:
    """Everything a refused request must leave alone: row counts and the rows of each item."""
    with goals.engine.connect() as connection:
        counts = {table.name: connection.execute(select(func.count()).select_from(table))
                  .scalar_one()
                  for table in (tables.plumbing.outbox, tables.audit_log)}
        rows = {table.name: sorted(tuple(row) for row in connection.execute(select(table)))
                for table in (tables.departments, tables.cycles, tables.api_tokens)}
    return {"counts": counts, "rows": rows}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem document with ``status``; return its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == PROBLEM_CONTENT_TYPE, response.headers
    body = response.get_json(force=True)
    for member in ("type", "title", "status", "detail"):
        assert body.get(member), (member, body)
    assert body["status"] == status
    assert body["type"] == problem_type(status).uri  # a page the service serves explains it
    return body


@dataclass
class World:
    """Seeded departments, one cycle, and a token of each kind (secrets and ids)."""

    viewer: str
    head: str
    revoked: str
    viewer_id: str
    head_id: str
    revoked_id: str


def mint(api: ApiClient, role: str, department: str | None = None,
         name: str | None = None) -> dict[str, Any]:
    response = api.post("/v1/tokens", json={"name": name or f"{role} token", "role": role,
                                            "department": department})
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


@pytest.fixture
def seeded(goals: Goals) -> Goals:
    """The goals service after ``okr-goals migrate``: the four default departments exist."""
    seed_default_departments(goals.unit_of_work())
    return goals


@pytest.fixture
def world(api: ApiClient, seeded: Goals) -> World:
    response = api.post("/v1/cycles", json={"key": CYCLE, "starts_on": "2026-10-01",
                                            "ends_on": "2026-12-31"})
    assert response.status_code == 201, response.get_json()
    viewer = mint(api, "viewer")
    head = mint(api, "head", "sales")
    revoked = mint(api, "viewer", name="revoked")
    assert api.delete(f"/v1/tokens/{revoked['id']}").status_code == 204
    return World(viewer=viewer["token"], head=head["token"], revoked=revoked["token"],
                 viewer_id=viewer["id"], head_id=head["id"], revoked_id=revoked["id"])
