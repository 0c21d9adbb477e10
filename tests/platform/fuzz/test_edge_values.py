"""Values the fuzzer found the service refusing with a 500; each is now a documented 422."""

from __future__ import annotations

import pytest

from tests.conftest import ApiClient

PROBLEM = "application/problem+json"


@pytest.mark.parametrize("query", [
    "since=0001-01-01T00:00:00%2B23:59",  # before year 1 in UTC
    "until=9999-12-31T23:59:59-23:59",  # after year 9999 in UTC
])
def test_audit_times_without_a_utc_equivalent_are_refused(api: ApiClient, query: str) -> None:
    response = api.get(f"/v1/audit?{query}")
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == PROBLEM
    assert set(response.get_json()["errors"]["query"]) <= {"since", "until"}


@pytest.mark.parametrize("page", [2**31, 10**35])
def test_page_numbers_whose_offset_overflows_are_refused(api: ApiClient, page: int) -> None:
    response = api.get(f"/v1/departments?page={page}&page_size=100")
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == PROBLEM
    assert "page" in response.get_json()["errors"]["query"]


def test_the_last_allowed_page_is_empty(api: ApiClient) -> None:
    response = api.get(f"/v1/objectives?page={2**31 - 1}&page_size=100")
    assert response.status_code == 200
    assert response.get_json() == []


def test_every_documented_error_is_a_problem_document(api: ApiClient) -> None:
    document = api.get("/openapi.json").get_json()
    responses = document["components"]["responses"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = responses[response["$ref"].rsplit("/", 1)[-1]]
                if status == "default" or int(status) >= 400:
                    assert list(response["content"]) == [PROBLEM], (method, path, status)
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert "content" in document["components"]["headers"]["PAGINATION"]
