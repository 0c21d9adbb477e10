"""A number in a body is a JSON number: a string ("5") or a boolean where a number is asked
for is a 422 problem naming the field, and changes nothing (marshmallow's ``Float`` alone
would read ``"5"`` as 5 and ``true`` as 1)."""

from __future__ import annotations

from typing import Any

import pytest

from services.goals.bootstrap import Goals
from tests.conftest import ApiClient
from tests.goals.api.conftest import CYCLE, World, assert_problem, snapshot


def _objective(api: ApiClient) -> str:
    response = api.post("/v1/objectives", json={
        "cycle": CYCLE, "kind": "department", "departments": ["sales"], "owner": "Owner",
        "title": "numbers"})
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def _key_result(api: ApiClient, objective_id: str, **extra: Any) -> dict[str, Any]:
    response = api.post(f"/v1/objectives/{objective_id}/key-results", json={
        "title": "deals", "measure": "increase", "start": 0, "target": 10, "unit": "deals",
        **extra})
    return {"status": response.status_code, "body": response}


@pytest.mark.parametrize("bad", ["5", "", " 5", "1e3", True, False],
                         ids=["digits", "empty", "space", "exponent", "true", "false"])
@pytest.mark.parametrize("field", ["value", "confidence"])
def test_a_check_in_number_that_is_not_a_json_number_is_refused(
        api: ApiClient, world: World, goals: Goals, field: str, bad: Any) -> None:
    objective_id = _objective(api)
    created = _key_result(api, objective_id)["body"]
    assert created.status_code == 201
    key_result_id = created.get_json()["id"]
    body = {"value": 3, "confidence": 0.5, field: bad}
    if field == "value" and isinstance(bad, bool):
        # true and false are read as 1 and 0, for boolean key results (docs/api.md)
        response = api.post(f"/v1/key-results/{key_result_id}/check-ins", json=body)
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["value"] == (1.0 if bad else 0.0)
        return
    before = snapshot(goals)
    response = api.post(f"/v1/key-results/{key_result_id}/check-ins", json=body)
    problem = assert_problem(response, 422)
    assert field in str(problem), problem
    assert snapshot(goals) == before


@pytest.mark.parametrize("field", ["start", "target", "weight"])
def test_a_key_result_number_that_is_a_string_or_a_boolean_is_refused(
        api: ApiClient, world: World, goals: Goals, field: str) -> None:
    objective_id = _objective(api)
    before = snapshot(goals)
    for bad in ("5", True):
        created = _key_result(api, objective_id, **{field: bad})
        assert_problem(created["body"], 422)
    assert snapshot(goals) == before


def test_a_contribution_weight_that_is_a_string_is_refused(
        api: ApiClient, world: World, goals: Goals) -> None:
    child, parent = _objective(api), _objective(api)
    before = snapshot(goals)
    response = api.post("/v1/contributions", json={
        "child_type": "objective", "child_id": child, "parent_type": "objective",
        "parent_id": parent, "weight": "2"})
    assert "weight" in str(assert_problem(response, 422))
    assert snapshot(goals) == before


def test_a_batch_item_whose_value_is_a_string_is_refused_with_the_whole_batch(
        api: ApiClient, world: World, goals: Goals) -> None:
    created = _key_result(api, _objective(api))["body"]
    assert created.status_code == 201
    key_result_id = created.get_json()["id"]
    before = snapshot(goals)
    response = api.post("/v1/check-ins/batch", json={"items": [
        {"key_result_id": key_result_id, "value": 3},
        {"key_result_id": key_result_id, "value": "5"}]})
    assert "value" in str(assert_problem(response, 422))
    assert snapshot(goals) == before
