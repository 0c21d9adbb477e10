"""Every creating POST of the goals API takes an ``Idempotency-Key`` (as check-ins do).

Objectives, key results, departments, cycles, contributions and links: a retry with the
same key and body creates nothing more and gets the first answer (its body, ``Location``
and ``ETag``, status 200, ``Idempotent-Replayed: true``); the same key with another body is
a 422 problem that changes nothing; keys are the caller's own; ten concurrent requests with
one key over a real gunicorn create one item. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.http_load import Reply, Server
from services.goals.adapters import tables
from services.goals.bootstrap import Goals
from tests.conftest import ApiClient
from tests.goals.api.conftest import assert_problem, snapshot
from tests.goals.concurrency.conftest import CYCLE, Seeded, count_rows, http_client

REPLAYED = "Idempotent-Replayed"


@dataclass(frozen=True)
class Create:
    """A creating POST: its path and body (from the seeded ids), another body, its table."""

    name: str
    path: Callable[[Seeded], str]
    body: Callable[[Seeded, int], dict[str, Any]]
    table: Any
    event: str


def _marketing_objective(api: ApiClient) -> str:
    response = api.post("/v1/objectives", json={
        "cycle": CYCLE, "kind": "department", "departments": ["marketing"], "owner": "Mo",
        "title": "Leads"})
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


CREATES = [
    Create("objective", lambda s: "/v1/objectives",
           lambda s, n: {"cycle": CYCLE, "kind": "department", "departments": ["sales"],
                         "owner": "Sam", "title": f"Seeded objective {n}"},
           tables.objectives, "okr.objective.created"),
    Create("key result", lambda s: f"/v1/objectives/{s.objective_id}/key-results",
           lambda s, n: {"title": f"Seeded key result {n}", "measure": "increase",
                         "start": 0, "target": 100 + n, "unit": "EUR"},
           tables.key_results, "okr.key_result.created"),
    Create("department", lambda s: "/v1/departments",
           lambda s, n: {"key": f"seeded-{n}", "name": f"Seeded {n}"},
           tables.departments, "okr.department.created"),
    Create("cycle", lambda s: "/v1/cycles",
           lambda s, n: {"key": f"2027-Q{n % 4 + 1}", "starts_on": "2027-01-01",
                         "ends_on": "2027-03-31"},
           tables.cycles, "okr.cycle.created"),
    Create("contribution", lambda s: "/v1/contributions",
           lambda s, n: {"child_type": "key_result", "child_id": s.key_result_ids[n % 3],
                         "parent_type": "objective", "parent_id": s.extra["collective"],
                         "weight": 1.0},
           tables.contributions, "okr.contribution.added"),
    Create("link", lambda s: "/v1/links",
           lambda s, n: {"kind": "depends_on", "from_type": "key_result",
                         "from_id": s.key_result_ids[n % 3], "from_department": "sales",
                         "to_type": "objective", "to_id": s.extra["marketing"],
                         "to_department": "marketing"},
           tables.links, "okr.link.created"),
]


@dataclass(frozen=True)
class World(Seeded):
    extra: dict[str, str]


@pytest.fixture
def world(api: ApiClient, seeded_goals: Seeded) -> World:
    collective = api.post("/v1/objectives", json={
        "cycle": CYCLE, "kind": "collective", "departments": ["sales", "marketing"],
        "owner": "CEO", "title": "Grow"})
    assert collective.status_code == 201, collective.get_json()
    return World(seeded_goals.objective_id, seeded_goals.key_result_ids,
                 {"collective": collective.get_json()["id"],
                  "marketing": _marketing_objective(api)})


def _events(goals: Goals, event_type: str) -> int:
    outbox = tables.plumbing.outbox
    return count_rows(goals, outbox, outbox.c.event_type == event_type)


def _counts(goals: Goals, create: Create) -> tuple[int, int, int]:
    return (count_rows(goals, create.table), _events(goals, create.event),
            count_rows(goals, tables.audit_log))


def _minted_admin(api: ApiClient, name: str) -> ApiClient:
    minted = api.post("/v1/tokens", json={"name": name, "role": "admin", "department": None})
    assert minted.status_code == 201, minted.get_json()
    return api.as_token(minted.get_json()["token"])


@pytest.mark.parametrize("create", CREATES, ids=lambda create: create.name)
def test_a_retried_create_is_applied_once_and_answered_as_the_first_time(
        api: ApiClient, goals: Goals, world: World, create: Create) -> None:
    path, body = create.path(world), create.body(world, 1)
    before = _counts(goals, create)
    key = {"Idempotency-Key": f"seed-{create.name}-1"}
    first = api.post(path, json=body, headers=key)
    assert first.status_code == 201, first.get_json()
    assert REPLAYED not in first.headers
    after = _counts(goals, create)
    assert after == (before[0] + 1, before[1] + 1, before[2] + 1)

    retry = api.post(path, json=body, headers=key)
    assert retry.status_code == 200, retry.get_json()
    assert retry.headers[REPLAYED] == "true"
    assert retry.get_data() == first.get_data()
    for header in ("Location", "ETag"):
        assert retry.headers.get(header) == first.headers.get(header), header
    assert first.headers["Location"].endswith(
        str(first.get_json().get("id", first.get_json().get("key"))))
    assert _counts(goals, create) == after
    # the item the first answer names is there, and it is the only new one
    assert api.get(first.headers["Location"]).status_code == 200

    # without a key the same body is a new request (a 409 for items with a natural key)
    again = api.post(path, json=body)
    assert again.status_code in (201, 409), again.get_json()


@pytest.mark.parametrize("create", CREATES, ids=lambda create: create.name)
def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
        api: ApiClient, goals: Goals, world: World, create: Create) -> None:
    path, key = create.path(world), {"Idempotency-Key": f"seed-{create.name}-2"}
    assert api.post(path, json=create.body(world, 2), headers=key).status_code == 201
    before, rows = _counts(goals, create), snapshot(goals)
    other = api.post(path, json=create.body(world, 3), headers=key)
    body = assert_problem(other, 422)
    assert "Idempotency-Key" in body["detail"]
    assert (_counts(goals, create), snapshot(goals)) == (before, rows)


def test_a_key_used_on_one_route_is_refused_on_another(
        api: ApiClient, goals: Goals, world: World) -> None:
    key = {"Idempotency-Key": "one-key-two-routes"}
    department = {"key": "route-a", "name": "Route A"}
    assert api.post("/v1/departments", json=department, headers=key).status_code == 201
    before = snapshot(goals)
    assert_problem(api.post("/v1/cycles", json={"key": "route-a", "starts_on": "2027-01-01",
                                                 "ends_on": "2027-03-31"}, headers=key), 422)
    assert snapshot(goals) == before


def test_keys_are_the_callers_own(api: ApiClient, goals: Goals, world: World) -> None:
    """Another caller's key never replays someone else's answer: the same key and body from
    a second token is that caller's own first request."""
    first_caller, second_caller = _minted_admin(api, "seeder one"), _minted_admin(api, "seeder two")
    key = {"Idempotency-Key": "shared-looking-key"}
    body = CREATES[0].body(world, 7)
    mine = first_caller.post("/v1/objectives", json=body, headers=key)
    theirs = second_caller.post("/v1/objectives", json=body, headers=key)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert REPLAYED not in theirs.headers
    # each caller's retry replays its own answer
    assert second_caller.post("/v1/objectives", json=body, headers=key).get_json()["id"] == (
        theirs.get_json()["id"])
    assert first_caller.post("/v1/objectives", json=body, headers=key).get_json()["id"] == (
        mine.get_json()["id"])


def test_a_refused_create_keeps_no_key_so_a_corrected_retry_applies(
        api: ApiClient, goals: Goals, world: World) -> None:
    key = {"Idempotency-Key": "fix-and-retry"}
    wrong = {**CREATES[0].body(world, 8), "cycle": "no-such-cycle"}
    assert_problem(api.post("/v1/objectives", json=wrong, headers=key), 422)
    assert count_rows(goals, tables.idempotency_keys) == 0
    assert api.post("/v1/objectives", json=CREATES[0].body(world, 8),
                    headers=key).status_code == 201


def test_minting_a_token_refuses_a_key_because_its_secret_is_never_stored(
        api: ApiClient, goals: Goals, world: World) -> None:
    before = snapshot(goals)
    refused = api.post("/v1/tokens", json={"name": "crm", "role": "viewer", "department": None},
                       headers={"Idempotency-Key": "mint-once"})
    assert "secret" in assert_problem(refused, 400)["detail"]
    assert snapshot(goals) == before


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.sampled_from(["key", "name", "extra", "cycle", ""]),
                            st.one_of(st.none(), st.integers(), st.text(max_size=50),
                                      st.lists(st.integers(), max_size=2)), max_size=4),
       key=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1,
                   max_size=200))
def test_hostile_bodies_with_a_key_are_refused_cleanly_and_store_no_key(
        api: ApiClient, goals: Goals, world: World, body: dict[str, Any], key: str) -> None:
    keys = count_rows(goals, tables.idempotency_keys)
    departments = count_rows(goals, tables.departments)
    response = api.post("/v1/departments", json=body, headers={"Idempotency-Key": key})
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert count_rows(goals, tables.idempotency_keys) == keys
        assert count_rows(goals, tables.departments) == departments


def test_concurrent_requests_with_one_key_over_gunicorn_create_one_item(
        goals: Goals, world: World, served: Server) -> None:
    """An objective (a new id each time) and a department (its key would be a 409): ten
    requests at once with one key, one gunicorn for both (its start is the slow part)."""
    for create in (CREATES[0], CREATES[2]):
        _storm(goals, world, served, create)


def _storm(goals: Goals, world: World, served: Server, create: Create) -> None:
    senders = 10
    start = threading.Barrier(senders)
    path, body = create.path(world), create.body(world, 9)
    before = _counts(goals, create)

    def send(_: int) -> Reply:
        client = http_client(served)
        try:
            start.wait()
            return client.request("POST", path, body, {"Idempotency-Key": f"storm-{create.name}"})
        finally:
            client.close()

    with ThreadPoolExecutor(senders) as pool:
        replies = list(pool.map(send, range(senders)))

    assert sorted(reply.status for reply in replies) == [200] * (senders - 1) + [201], [
        (create.name, reply.status, reply.body[:200]) for reply in replies]
    assert len({reply.body for reply in replies}) == 1
    assert len({reply.headers["location"] for reply in replies}) == 1
    assert [reply.headers.get(REPLAYED.lower()) for reply in replies].count("true") == (
        senders - 1)
    assert _counts(goals, create) == (before[0] + 1, before[1] + 1, before[2] + 1)
