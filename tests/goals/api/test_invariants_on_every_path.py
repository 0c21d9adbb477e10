"""Rules checked on create hold on every later path: updates, removals and deletions.

Each refusal is a problem document and stores nothing: the item reads as before, and the
outbox and the audit log have no new row. The rules themselves live in the domain
(``services/goals/domain/graph.py``: the sum rule; ``permissions.py``: who may write).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from services.goals.adapters.graph_repositories import (
    SqlContributionRepository as ContributionRepository,
)
from services.goals.bootstrap import Goals
from tests.conftest import ApiClient
from tests.goals.api.conftest import CYCLE, assert_problem, mint
from tests.platform.contract.conftest import Builder, Outbox

IF_MATCH_1 = {"If-Match": '"1"'}


@pytest.fixture
def build(api: ApiClient, seeded: Goals) -> Builder:
    response = api.post("/v1/cycles", json={"key": CYCLE, "starts_on": "2026-10-01",
                                            "ends_on": "2026-12-31"})
    assert response.status_code == 201, response.get_json()
    return Builder(api)


@pytest.fixture
def outbox(goals: Goals) -> Outbox:
    return Outbox(goals)


def _refused_and_unchanged(response: Any, status: int, api: ApiClient, path: str,
                           before: dict[str, Any], outbox: Outbox,
                           counts: tuple[int, int]) -> dict[str, Any]:
    body = assert_problem(response, status)
    after = api.get(path)
    assert after.status_code == 200
    assert after.get_json() == before, "a refused change was stored"
    assert outbox.counts() == counts, "a refused change wrote an event or an audit entry"
    return body


def _summing_pair(build: Builder) -> tuple[dict[str, Any], dict[str, Any]]:
    """A sales key result in EUR that feeds a collective summing key result in EUR."""
    summing = build.key_result(build.objective("sales+marketing")["id"], aggregation="sum")
    feeding = build.key_result(build.objective("sales")["id"])
    build.contribution(feeding, summing)
    return feeding, summing


def test_a_unit_change_that_would_break_a_sum_is_refused_and_stores_nothing(
    api: ApiClient, build: Builder, outbox: Outbox
) -> None:
    for side in _summing_pair(build):  # the key result feeding the sum, then the sum
        path = f"/v1/key-results/{side['id']}"
        before, counts = api.get(path).get_json(), outbox.counts()

        response = api.patch(path, json={"unit": "USD", "title": "renamed"},
                             headers=IF_MATCH_1)

        body = _refused_and_unchanged(response, 409, api, path, before, outbox, counts)
        assert "same unit" in body["detail"], body
        assert "remove that contribution first" in body["detail"], body


def test_a_unit_change_is_allowed_once_the_contribution_is_removed(
    api: ApiClient, build: Builder
) -> None:
    feeding, summing = _summing_pair(build)
    assert api.patch(f"/v1/key-results/{feeding['id']}", json={"unit": "EUR"},
                     headers=IF_MATCH_1).status_code == 200  # the same unit: no change
    (contribution,) = api.get(f"/v1/contributions?child_id={feeding['id']}").get_json()
    assert api.delete(f"/v1/contributions/{contribution['id']}").status_code == 204

    for item, version in ((summing, '"1"'), (feeding, '"2"')):
        response = api.patch(f"/v1/key-results/{item['id']}", json={"unit": "USD"},
                             headers={"If-Match": version})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["unit"] == "USD"


#: What a sum and its contributions depend on, set once at creation.
FIXED_AT_CREATION = [
    ("key_result", {"measure": "boolean"}),
    ("key_result", {"aggregation": "check_ins"}),
    ("key_result", {"objective_id": "other"}),  # moving it to another objective
    ("key_result", {"current": 5}),
    ("objective", {"kind": "department"}),
    ("objective", {"departments": ["sales"]}),
    ("objective", {"cycle": "2027-Q1"}),
]


def test_what_is_fixed_at_creation_cannot_be_changed(
    api: ApiClient, build: Builder, outbox: Outbox
) -> None:
    _, summing = _summing_pair(build)
    for item, body in FIXED_AT_CREATION:
        path = (f"/v1/key-results/{summing['id']}" if item == "key_result"
                else f"/v1/objectives/{summing['objective_id']}")
        before, counts = api.get(path).get_json(), outbox.counts()

        response = api.patch(path, json={**body, "title": "renamed"}, headers=IF_MATCH_1)

        problem = _refused_and_unchanged(response, 422, api, path, before, outbox, counts)
        assert set(problem["errors"]) == set(body), problem


#: (how the key result is made, a change that breaks a rule of its creation)
RANGE_BREAKING_CHANGES = [
    ({}, {"start": 100}),  # start equal to target
    ({}, {"target": -1}),  # an increase must go up
    ({"measure": "decrease", "start": 10, "target": 0}, {"target": 20}),
    ({"measure": "boolean"}, {"target": 2}),  # a boolean runs from 0 to 1
    ({"measure": "boolean"}, {"start": 0}),
]


def test_a_key_result_change_keeps_the_rules_of_its_creation(
    api: ApiClient, build: Builder, outbox: Outbox
) -> None:
    objective = build.objective("sales")
    for fields, body in RANGE_BREAKING_CHANGES:
        path = f"/v1/key-results/{build.key_result(objective['id'], **fields)['id']}"
        before, counts = api.get(path).get_json(), outbox.counts()

        response = api.patch(path, json=body, headers=IF_MATCH_1)

        _refused_and_unchanged(response, 422, api, path, before, outbox, counts)


def test_until_the_first_check_in_the_current_value_follows_the_start(
    api: ApiClient, build: Builder
) -> None:
    key_result = build.key_result(build.objective("sales")["id"])  # 0 -> 100 EUR
    path = f"/v1/key-results/{key_result['id']}"

    moved = api.patch(path, json={"start": 20}, headers=IF_MATCH_1).get_json()
    assert (moved["start"], moved["current"]) == (20, 20)

    assert api.post(f"{path}/check-ins", json={"value": 30}).status_code == 201
    kept = api.patch(path, json={"start": 10}, headers={"If-Match": '"3"'}).get_json()
    assert (kept["start"], kept["current"]) == (10, 30)


def test_a_boolean_key_results_unit_changes_as_it_was_given_at_creation(
    api: ApiClient, build: Builder
) -> None:
    key_result = build.key_result(build.objective("sales")["id"], measure="boolean",
                                  unit="launch")
    response = api.patch(f"/v1/key-results/{key_result['id']}", json={"unit": "release"},
                         headers=IF_MATCH_1)
    assert response.status_code == 200 and response.get_json()["unit"] == "release"


def test_check_ins_on_a_sum_are_refused_one_at_a_time_and_in_a_batch(
    api: ApiClient, build: Builder, outbox: Outbox
) -> None:
    _, summing = _summing_pair(build)
    path = f"/v1/key-results/{summing['id']}"
    before, counts = api.get(path).get_json(), outbox.counts()

    single = api.post(f"{path}/check-ins", json={"value": 5})
    _refused_and_unchanged(single, 409, api, path, before, outbox, counts)
    batch = api.post("/v1/check-ins/batch", json={"items": [
        {"key_result_id": summing["id"], "value": 5}]})
    assert batch.status_code == 200
    assert batch.get_json()["results"][0]["status"] == 409
    assert api.get(path).get_json() == before and outbox.counts() == counts


def test_a_head_cannot_detach_what_it_could_not_attach(
    api: ApiClient, build: Builder, outbox: Outbox
) -> None:
    """The admin aligned sales' objective to a target sales does not co-own."""
    contribution = build.contribution(build.objective("sales"),
                                      build.objective("marketing+finance"))
    head = api.as_token(mint(api, "head", "sales")["token"])
    path = f"/v1/contributions/{contribution['id']}"
    before, counts = api.get(path).get_json(), outbox.counts()

    response = head.delete(path)

    _refused_and_unchanged(response, 403, api, path, before, outbox, counts)


def test_deleting_an_item_takes_along_the_edges_others_made(
    api: ApiClient, build: Builder, outbox: Outbox
) -> None:
    """Its writer may delete it; the contributions and links touching it cannot outlive it."""
    objective = build.objective("sales")
    into = build.contribution(objective, build.objective("marketing+finance"))
    incoming = build.link(build.objective("finance"), objective)
    head = api.as_token(mint(api, "head", "sales")["token"])
    mark = outbox.mark()

    assert head.delete(f"/v1/objectives/{objective['id']}",
                       headers=IF_MATCH_1).status_code == 204

    assert api.get(f"/v1/contributions/{into['id']}").status_code == 404
    assert api.get(f"/v1/links/{incoming['id']}").status_code == 404
    assert [row.event_type for row in outbox.since(mark)] == [
        "okr.contribution.removed", "okr.link.removed", "okr.objective.deleted"]


def test_changes_of_the_graph_wait_for_each_other(api: ApiClient, build: Builder,
                                                  goals: Goals) -> None:
    """Two changes that each pass a check (no cycle, same unit) cannot commit together what
    together breaks it: on PostgreSQL every change of the graph, and of a unit a sum
    depends on, waits for the graph lock (SQLite's writers take turns anyway)."""
    if goals.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every writer at BEGIN IMMEDIATE")
    feeding, summing = _summing_pair(build)
    child, parent = build.objective("sales"), build.objective("sales+marketing")
    writes = [
        lambda: api.post("/v1/contributions", json={
            "child_type": "objective", "child_id": child["id"],
            "parent_type": "objective", "parent_id": parent["id"]}),
        lambda: api.patch(f"/v1/key-results/{feeding['id']}", json={"unit": "USD"},
                          headers=IF_MATCH_1),
        lambda: api.delete(f"/v1/key-results/{summing['id']}", headers=IF_MATCH_1),
    ]
    statuses: list[int] = []
    with goals.engine.connect() as holder, holder.begin() as transaction:
        ContributionRepository(holder).lock_graph()
        threads = [threading.Thread(target=lambda w=w: statuses.append(w().status_code))
                   for w in writes]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        assert statuses == [], "a change of the graph did not wait for the lock"
        transaction.rollback()
    for thread in threads:
        thread.join(timeout=15)
    assert sorted(statuses) == [201, 204, 409] or sorted(statuses) == [200, 201, 204]
