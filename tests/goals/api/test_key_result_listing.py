"""``GET /v1/key-results``: key results across objectives, by department, cycle and staleness.

Last check-ins without ``observed_at`` are the server's own clock, so the stale moments
are taken between check-ins the tests make one after the other; a backdated check-in
(``observed_at``) is last checked in at its own time.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from services.goals.bootstrap import Goals
from tests.conftest import ApiClient
from tests.goals.api.conftest import CYCLE, World, assert_problem, snapshot


def objective(api: ApiClient, *departments: str, cycle: str = CYCLE) -> str:
    response = api.post("/v1/objectives", json={
        "cycle": cycle, "kind": "department" if len(departments) == 1 else "collective",
        "departments": list(departments), "owner": "Owner", "title": "+".join(departments)})
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def key_result(api: ApiClient, objective_id: str, title: str, **extra: Any) -> str:
    response = api.post(f"/v1/objectives/{objective_id}/key-results", json={
        "title": title, "measure": "increase", "start": 0, "target": 10, "unit": "deals",
        **extra})
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def check_in(api: ApiClient, key_result_id: str) -> str:
    """The moment the key result was last checked in, as the API writes it."""
    response = api.post(f"/v1/key-results/{key_result_id}/check-ins", json={"value": 3})
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["key_result"]["last_checkin_at"])


def titles(api: ApiClient, query: str) -> list[str]:
    response = api.get("/v1/key-results?" + query)
    assert response.status_code == 200, response.get_json()
    return [item["title"] for item in response.get_json()]


@pytest.fixture
def organisation(api: ApiClient, world: World) -> dict[str, str]:
    """Sales' objective with three key results (one never checked in, two checked in one
    after the other), a sum that takes no check-in, a collective target of sales and
    marketing with one key result, and finance's and another cycle's key results."""
    response = api.post("/v1/cycles", json={"key": "2027-Q1", "starts_on": "2027-01-01",
                                            "ends_on": "2027-03-31"})
    assert response.status_code == 201, response.get_json()
    sales = objective(api, "sales")
    shared = objective(api, "sales", "marketing")
    moments = {}
    key_result(api, sales, "sales never")
    key_result(api, shared, "shared never")
    key_result(api, sales, "sales sum", aggregation="sum")
    key_result(api, objective(api, "finance"), "finance never")
    key_result(api, objective(api, "sales", cycle="2027-Q1"), "sales next cycle")
    moments["early"] = check_in(api, key_result(api, sales, "sales early"))
    moments["late"] = check_in(api, key_result(api, sales, "sales late"))
    return moments


def test_a_departments_key_results_include_its_collective_targets_and_no_other(
        api: ApiClient, organisation: dict[str, str]) -> None:
    assert sorted(titles(api, f"department=sales&cycle={CYCLE}")) == [
        "sales early", "sales late", "sales never", "sales sum", "shared never"]
    assert titles(api, f"department=marketing&cycle={CYCLE}") == ["shared never"]
    assert titles(api, "department=production") == []
    assert sorted(titles(api, "department=sales")) == [
        "sales early", "sales late", "sales never", "sales next cycle", "sales sum",
        "shared never"]


def test_stale_key_results_are_the_never_checked_in_then_the_oldest_check_ins(
        api: ApiClient, organisation: dict[str, str]) -> None:
    late = quote(organisation["late"])
    stale = api.get(f"/v1/key-results?department=sales&cycle={CYCLE}&stale_before={late}")
    assert stale.status_code == 200
    body = stale.get_json()
    never = sorted((item for item in body if item["last_checkin_at"] is None),
                   key=lambda item: item["id"])
    assert [item["title"] for item in body] == [
        *(item["title"] for item in never), "sales early"]  # no sum, nothing checked in since
    assert {item["title"] for item in never} == {"sales never", "shared never"}
    assert body[-1]["last_checkin_at"] == organisation["early"]
    # any cycle; the moment in another offset; only never checked in is before "early"
    early = organisation["early"].replace("Z", "+00:00")
    older = api.get(f"/v1/key-results?department=sales&stale_before={quote(early)}").get_json()
    assert sorted(item["title"] for item in older) == [
        "sales never", "sales next cycle", "shared never"]
    assert [item["id"] for item in older] == sorted(item["id"] for item in older)


def test_archived_objectives_key_results_are_never_stale(
        api: ApiClient, organisation: dict[str, str]) -> None:
    sales = objective(api, "sales")
    key_result(api, sales, "archived never")
    stale = f"department=sales&cycle={CYCLE}&stale_before={quote(organisation['late'])}"
    assert "archived never" in titles(api, stale)
    etag = api.get(f"/v1/objectives/{sales}").headers["ETag"]
    archived = api.patch(f"/v1/objectives/{sales}", json={"status": "archived"},
                         headers={"If-Match": etag})
    assert archived.status_code == 200, archived.get_json()
    assert "archived never" not in titles(api, stale)
    # still listed as a key result of the department (only staleness leaves it out)
    assert "archived never" in titles(api, f"department=sales&cycle={CYCLE}")


def test_a_backdated_check_in_is_as_old_as_it_says_and_ordered_so_among_the_stale(
        api: ApiClient, organisation: dict[str, str]) -> None:
    sales = objective(api, "sales")
    backdated = key_result(api, sales, "sales backdated")
    observed = "2026-10-02T09:00:00Z"  # long before "early", sent after it
    response = api.post(f"/v1/key-results/{backdated}/check-ins",
                        json={"value": 2, "observed_at": observed})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["key_result"]["last_checkin_at"] == observed
    late = quote(organisation["late"])
    body = api.get(f"/v1/key-results?department=sales&cycle={CYCLE}&stale_before={late}"
                   ).get_json()
    checked = [item["title"] for item in body if item["last_checkin_at"] is not None]
    assert checked == ["sales backdated", "sales early"]  # by their own times, oldest first


def test_the_list_is_paginated_with_links_that_keep_the_filters(
        api: ApiClient, organisation: dict[str, str]) -> None:
    query = f"department=sales&cycle={CYCLE}"
    whole = api.get(f"/v1/key-results?{query}").get_json()
    seen = []
    for page in (1, 2, 3):
        response = api.get(f"/v1/key-results?{query}&page_size=2&page={page}")
        assert response.status_code == 200
        assert json.loads(response.headers["X-Pagination"])["total"] == len(whole)
        assert "department=sales" in response.headers["Link"]
        seen += response.get_json()
    assert seen == whole  # a stable order: pages neither repeat nor skip an item


def test_every_reader_may_list_key_results_as_they_may_list_objectives(
        api: ApiClient, world: World, organisation: dict[str, str]) -> None:
    for token in (world.viewer, world.head):
        reader = api.as_token(token)
        assert reader.get("/v1/objectives?department=finance").status_code == 200
        assert titles(reader, "department=finance") == ["finance never"]
    assert_problem(api.as_token(world.revoked).get("/v1/key-results"), 401)
    assert_problem(api.as_token(None).get("/v1/key-results"), 401)


def test_an_unknown_department_or_cycle_is_refused_in_the_objectives_words(
        api: ApiClient, world: World) -> None:
    for name, value in (("department", "salez"), ("cycle", "2031-Q1")):
        refused = assert_problem(api.get(f"/v1/key-results?{name}={value}"), 400)
        listed = assert_problem(api.get(f"/v1/objectives?{name}={value}"), 400)
        assert refused["detail"] == listed["detail"]
        assert refused["errors"] == listed["errors"] == {"query": {name: [
            f"no {name} {value!r} exists"]}}


@pytest.mark.parametrize("moment", [
    "2026-W48-7T00:00:00Z", "20261129T000000Z", "2026-11-29 00:00:00Z", "2026-11-29T00:00Z",
    "2026-11-29T00:00:00+0000", "2026-11-29T00:00:00+00", "2026-11-29", "%202026-11-29T00:00:00Z",
    "2026-11-29T00:00:00Z%20", "%D9%A2026-11-29T00:00:00Z", "2026-11-29T00:00:00.Z",
])
def test_stale_before_that_is_not_rfc_3339_is_refused_naming_the_form(
        api: ApiClient, moment: str) -> None:
    """ISO 8601 forms Python's parser reads (week dates, the basic form) are not RFC 3339."""
    refused = assert_problem(api.get(f"/v1/key-results?stale_before={moment}"), 422)
    assert "expected an RFC 3339 date-time with its offset" in str(refused["errors"])


@pytest.mark.parametrize("moment", [
    "2030-01-01T00:00:00Z", "2030-01-01t00:00:00z", "2030-01-01T00:00:00.000000000z",
    "2030-01-01T01:00:00%2B01:00", "2029-12-31T23:00:00-01:00",
])
def test_stale_before_takes_rfc_3339_with_t_and_z_in_either_case(
        api: ApiClient, organisation: dict[str, str], moment: str) -> None:
    same = api.get("/v1/key-results?department=sales&stale_before=2030-01-01T00:00:00Z")
    answer = api.get(f"/v1/key-results?department=sales&stale_before={moment}")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == same.get_json() and len(same.get_json()) >= 3


@pytest.mark.parametrize("query", [
    "stale_before=yesterday", "stale_before=2026-11-01T00:00:00",  # no offset
    "stale_before=0001-01-01T00:00:00%2B01:00",  # no UTC moment
    "stale_before=9999-12-31T23:59:59-01:00", "stale_before=", "stale_before=%00",
    "department=..%2Fetc", "department=SALES", "department=" + "a" * 500,
    "cycle=%27%20OR%201%3D1--", "cycle=%F0%9F%98%80", "page=0", "page=99999999999999",
    "page_size=0", "page_size=-1", "departmnet=sales", "department=sales&department=finance",
])
def test_hostile_query_values_are_refused_with_a_problem_and_change_nothing(
        api: ApiClient, goals: Goals, world: World, query: str) -> None:
    before = snapshot(goals)
    response = api.get(f"/v1/key-results?{query}")
    assert 400 <= response.status_code < 500
    assert_problem(response, response.status_code)
    assert snapshot(goals) == before
