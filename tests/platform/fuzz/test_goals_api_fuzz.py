"""Property-based fuzzing of the whole goals API from its own OpenAPI document.

Every operation of ``/openapi.json`` gets generated requests (valid and invalid) as the admin,
against a seeded database on each engine. Each answer must be no server error, and have a
documented status code, content type and body. The catch-all ``default`` response is taken
out of the document first, so every status the service actually answers must be documented
explicitly. ``OKR_FUZZ_EXAMPLES`` sets the examples per operation (default 25).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.goals.bootstrap import Goals
from services.goals.service_layer.reference_data import seed_default_departments
from tests.conftest import ADMIN_TOKEN, ApiClient

EXAMPLES = int(os.environ.get("OKR_FUZZ_EXAMPLES", "25"))
AUTHORIZATION = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def seed(goals: Goals, api: ApiClient) -> dict[str, list[str]]:
    """Departments, a cycle, a collective target, department goals, a roll-up and a link.

    Returns, by path prefix, the path parameter values of items that exist.
    """
    seed_default_departments(goals.unit_of_work())
    _created(api.post("/v1/cycles", json={"key": "2026-Q4", "name": "Q4 2026",
                                          "starts_on": "2026-10-01", "ends_on": "2026-12-31"}))
    collective = _created(api.post("/v1/objectives", json={
        "cycle": "2026-Q4", "kind": "collective", "departments": ["sales", "marketing"],
        "owner": "ceo", "title": "Grow new revenue together"}))
    summed = _created(api.post(f"/v1/objectives/{collective['id']}/key-results", json={
        "title": "New revenue", "measure": "increase", "start": 0, "target": 100_000,
        "unit": "EUR", "aggregation": "sum"}))
    sales = _created(api.post("/v1/objectives", json={
        "cycle": "2026-Q4", "kind": "department", "departments": ["sales"],
        "owner": "head of sales", "title": "Close more deals"}))
    revenue = _created(api.post(f"/v1/objectives/{sales['id']}/key-results", json={
        "title": "Sales-sourced revenue", "measure": "increase", "start": 0, "target": 60_000,
        "unit": "EUR"}))
    pricing = _created(api.post(f"/v1/objectives/{sales['id']}/key-results", json={
        "title": "Pricing approved", "measure": "boolean"}))
    finance = _created(api.post("/v1/objectives", json={
        "cycle": "2026-Q4", "kind": "department", "departments": ["finance"],
        "owner": "cfo", "title": "Fund the campaigns"}))
    _created(api.post(f"/v1/key-results/{revenue['id']}/check-ins",
                      json={"value": 12_000, "confidence": 0.7, "note": "first deals"}))
    contribution = _created(api.post("/v1/contributions", json={
        "child_type": "key_result", "child_id": revenue["id"],
        "parent_type": "key_result", "parent_id": summed["id"]}))
    _created(api.post("/v1/contributions", json={
        "child_type": "objective", "child_id": sales["id"],
        "parent_type": "objective", "parent_id": collective["id"], "weight": 2}))
    link = _created(api.post("/v1/links", json={
        "kind": "funded_by", "from_type": "objective", "from_id": sales["id"],
        "to_type": "objective", "to_id": finance["id"], "note": "discount budget"}))
    token = _created(api.post("/v1/tokens", json={"name": "crm", "role": "head",
                                                  "department": "sales"}))
    return {"/v1/departments/": ["sales", "finance"], "/v1/cycles/": ["2026-Q4"],
            "/v1/objectives/": [collective["id"], sales["id"]],
            "/v1/key-results/": [summed["id"], revenue["id"], pricing["id"]],
            "/v1/contributions/": [contribution["id"]], "/v1/links/": [link["id"]],
            "/v1/tokens/": [token["id"]]}


def _without_default_responses(document: dict[str, Any]) -> dict[str, Any]:
    for operations in document["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("default", None)
    return document


def _cases(operation: Any, existing: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    """Valid requests as the admin, invalid ones (the credentials may be invalid too), and,
    for an item's path, valid requests naming a seeded item, with its first ETag if needed."""
    def valid(**fixed: Any) -> st.SearchStrategy[Any]:
        headers = {**AUTHORIZATION, **fixed.pop("headers", {})}
        return operation.as_strategy(GenerationMode.POSITIVE, headers=headers, **fixed)

    strategies = [valid(), operation.as_strategy(GenerationMode.NEGATIVE)]
    names = [parameter.name for parameter in operation.path_parameters]
    values = next((values for prefix, values in existing.items()
                   if operation.path.startswith(prefix)), []) if names else []
    for value in values:
        item = {names[0]: value}
        strategies.append(valid(path_parameters=item))
        if any(parameter.name == "If-Match" for parameter in operation.headers):
            strategies.append(valid(path_parameters=item, headers={"If-Match": '"1"'}))
    return st.one_of(strategies)


def test_goals_api_conforms_to_its_openapi_document(goals: Goals, goals_app: Flask,
                                                    api: ApiClient) -> None:
    existing = seed(goals, api)
    schema = schemathesis.openapi.from_dict(
        _without_default_responses(api.get("/openapi.json").get_json()))
    schema.app = goals_app
    failures: dict[str, BaseException] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=_cases(operation, existing))
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=AUTHORIZATION, checks=CHECKS)

        try:
            conforms()
        except (Exception, BaseExceptionGroup) as failure:  # report every failing operation
            failures[operation.label] = failure
    if failures:
        pytest.fail("\n\n".join(f"== {label}\n{failure}" for label, failure in failures.items()),
                    pytrace=False)
