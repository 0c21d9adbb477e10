"""Fixtures for the event-contract and authorisation tests.

``callers`` seeds the four default departments and one cycle, and mints a client for each
kind of caller; ``build`` creates goals as the admin; ``outbox`` reads what one request
added to the transactional outbox (and to the audit log).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from services.goals.adapters import tables
from services.goals.bootstrap import Goals
from services.goals.service_layer.reference_data import seed_default_departments
from tests.conftest import ApiClient

CYCLE = "2026-Q4"
OTHER_CYCLE = "2027-Q1"


@dataclass(frozen=True)
class OutboxRow:
    position: int
    topic: str
    key: str
    event_type: str
    event_id: str
    payload: str


class Outbox:
    """The outbox rows (and audit entries) added since a mark."""

    def __init__(self, goals: Goals) -> None:
        self.goals = goals

    def mark(self) -> int:
        outbox = tables.plumbing.outbox
        with self.goals.engine.connect() as connection:
            return int(connection.execute(select(func.coalesce(func.max(outbox.c.position), 0)))
                       .scalar_one())

    def since(self, mark: int) -> list[OutboxRow]:
        outbox = tables.plumbing.outbox
        with self.goals.engine.connect() as connection:
            rows = connection.execute(
                select(outbox.c.position, outbox.c.topic, outbox.c.message_key,
                       outbox.c.event_type, outbox.c.event_id, outbox.c.payload)
                .where(outbox.c.position > mark).order_by(outbox.c.position))
            return [OutboxRow(*row) for row in rows]

    def counts(self) -> tuple[int, int]:
        """(outbox rows, audit entries): what a refused write must leave as it was."""
        with self.goals.engine.connect() as connection:
            outbox, audit = (
                int(connection.execute(select(func.count()).select_from(table)).scalar_one())
                for table in (tables.plumbing.outbox, tables.audit_log))
        return outbox, audit


@dataclass
class Callers:
    """One client per kind of caller; ``sales_head`` and ``marketing_head`` are heads."""

    admin: ApiClient
    sales_head: ApiClient
    marketing_head: ApiClient
    viewer: ApiClient
    anonymous: ApiClient
    revoked: ApiClient

    def named(self, role: str) -> ApiClient:
        client: ApiClient = getattr(self, role)
        return client


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, (response.status_code, response.get_json())
    body: dict[str, Any] = response.get_json()
    return body


class Builder:
    """Creates goals through the API as the admin and returns their JSON."""

    def __init__(self, admin: ApiClient) -> None:
        self.admin = admin
        self._serial = itertools.count(1)

    def serial(self) -> int:
        return next(self._serial)

    def token(self, role: str, department: str | None = None) -> dict[str, Any]:
        return _created(self.admin.post("/v1/tokens", json={
            "name": f"{role} {department or ''} {self.serial()}".strip(), "role": role,
            "department": department}))

    def objective(self, departments: str, cycle: str = CYCLE) -> dict[str, Any]:
        """``departments``: one key, or several joined by '+' for a collective target."""
        keys = departments.split("+")
        return _created(self.admin.post("/v1/objectives", json={
            "cycle": cycle, "kind": "collective" if len(keys) > 1 else "department",
            "departments": keys, "owner": "Owner", "title": f"{departments} {self.serial()}"}))

    def key_result(self, objective_id: str, **fields: Any) -> dict[str, Any]:
        body = {"title": f"KR {self.serial()}", "measure": "increase", "start": 0,
                "target": 100, "unit": "EUR", **fields}
        return _created(self.admin.post(f"/v1/objectives/{objective_id}/key-results",
                                        json=body))

    def contribution(self, child: dict[str, Any], parent: dict[str, Any],
                     weight: float = 1.0) -> dict[str, Any]:
        return _created(self.admin.post("/v1/contributions", json={
            "child_type": item_type(child), "child_id": child["id"],
            "parent_type": item_type(parent), "parent_id": parent["id"], "weight": weight}))

    def link(self, source: dict[str, Any], target: dict[str, Any], kind: str = "depends_on",
             **departments: str) -> dict[str, Any]:
        return _created(self.admin.post("/v1/links", json={
            "kind": kind, "from_type": item_type(source), "from_id": source["id"],
            "to_type": item_type(target), "to_id": target["id"], **departments}))

    def version(self, path: str) -> str:
        """The current ETag of the item at ``path``."""
        response = self.admin.get(path)
        assert response.status_code == 200, response.get_json()
        etag: str = response.headers["ETag"]
        return etag


def item_type(item: dict[str, Any]) -> str:
    return "key_result" if "objective_id" in item else "objective"


@pytest.fixture
def callers(api: ApiClient, goals: Goals) -> Callers:
    seed_default_departments(goals.unit_of_work())
    for key, starts_on, ends_on in ((CYCLE, "2026-10-01", "2026-12-31"),
                                    (OTHER_CYCLE, "2027-01-01", "2027-03-31")):
        _created(api.post("/v1/cycles", json={"key": key, "starts_on": starts_on,
                                              "ends_on": ends_on}))
    build = Builder(api)
    revoked = build.token("head", "sales")
    assert api.delete(f"/v1/tokens/{revoked['id']}").status_code == 204
    return Callers(
        admin=api,
        sales_head=api.as_token(build.token("head", "sales")["token"]),
        marketing_head=api.as_token(build.token("head", "marketing")["token"]),
        viewer=api.as_token(build.token("viewer")["token"]),
        anonymous=api.as_token(None),
        revoked=api.as_token(revoked["token"]),
    )


@pytest.fixture
def build(callers: Callers) -> Builder:
    return Builder(callers.admin)


@pytest.fixture
def outbox(goals: Goals) -> Outbox:
    return Outbox(goals)
