"""Roll-ups as CSV (``Accept: text/csv``): the JSON's rows, filters, order and rights."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.metrics.bootstrap import Metrics
from services.metrics.entrypoints.api.app import create_app
from shared.web import csv_export
from shared.web.remote_auth import TokenIntrospector
from tests.conftest import ADMIN_TOKEN, mint_token
from tests.metrics import goal_events as ge
from tests.metrics.read_model import apply_events
from tests.support.csv_exports import CSV_HEADERS, all_pages, assert_same_rows, read_csv

#: Computed at read time from the clock: they move between the CSV and the JSON request.
MOVING = frozenset({"expected_progress", "gap", "gap_by_department"})

#: Titles a spreadsheet would run as formulas, and ones that need quoting.
TITLES = ["=1+1", "+SUM(A1)", "-2", "@cmd", "'quoted", "\ttab", "a, b", 'say "x"',
          "Grow revenue", "Ünïcödé 🚀"]
SIZE = 330


@pytest.fixture
def client(metrics: Metrics, goals_server: str) -> Iterator[FlaskClient]:
    app = create_app(container=metrics, introspector=TokenIntrospector(goals_server))
    app.config["TESTING"] = True
    objectives = [ge.new_id() for _ in range(SIZE)]
    departments = (["sales"], ["marketing"], ["marketing", "sales"], ["finance"])
    events = [ge.cycle()]
    for number, objective_id in enumerate(objectives):
        events.append(ge.objective(objective_id, departments[number % 4],
                                   title=f"{TITLES[number % len(TITLES)]} {number}"))
    for number, objective_id in enumerate(objectives[:40]):
        key_result_id = ge.new_id()
        events += [ge.key_result(key_result_id, objective_id),
                   ge.check_in(key_result_id, objective_id, 2, -5.0 + number, confidence=0.5)]
    apply_events(metrics, *events)
    yield app.test_client()


def _get(client: FlaskClient, path: str, token: str = ADMIN_TOKEN,
         **headers: str) -> Any:
    return client.get(path, headers={"Authorization": f"Bearer {token}", **headers})


#: Queries and how many of the objectives above they select.
FILTERS = {"": SIZE, "?department=sales": SIZE // 2,  # sales' own and the shared ones
           "?kind=collective&cycle=2026-Q4": (SIZE + 1) // 4}


def test_rollups_as_csv_are_the_json_rows_under_the_same_filters(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_export, "BATCH_ROWS", 100)  # 330 rows: four batches
    for query, expected in FILTERS.items():
        header, records = read_csv(_get(client, "/v1/rollups" + query, **CSV_HEADERS))
        items = all_pages(lambda path: _get(client, path), "/v1/rollups" + query)

        assert_same_rows(header, records, items, MOVING)
        assert len(records) == expected, query
    unknown = "/v1/rollups?cycle=2027-Q1"  # a cycle nothing is planned in: refused alike
    assert _get(client, unknown, **CSV_HEADERS).status_code == 400
    assert _get(client, unknown).status_code == 400


def test_a_rollup_page_as_csv_is_the_json_page_and_a_viewer_sees_what_its_json_shows(
        client: FlaskClient, goals_server: str) -> None:
    query = "/v1/rollups?department=marketing&page=2&page_size=50"
    page, json_page = _get(client, query, **CSV_HEADERS), _get(client, query)
    assert page.headers["X-Pagination"] == json_page.headers["X-Pagination"]
    assert_same_rows(*read_csv(page), json_page.get_json(), MOVING)

    viewer = mint_token(goals_server, "viewer")
    header, records = read_csv(_get(client, "/v1/rollups?kind=department", viewer,
                                    Accept="application/json;q=0.2, text/csv;q=0.8"))
    assert_same_rows(header, records, all_pages(
        lambda path: _get(client, path, viewer), "/v1/rollups?kind=department"), MOVING)

    assert _get(client, "/v1/rollups", "not-a-token", **CSV_HEADERS).status_code == 401
    refused = _get(client, "/v1/rollups", Accept="application/xml")
    assert refused.status_code == 406
    assert refused.mimetype == "application/problem+json"
    assert _get(client, "/v1/rollups?kind=team", **CSV_HEADERS).status_code == 422
    document = client.get("/openapi.json").get_json()
    responses = document["paths"]["/v1/rollups"]["get"]["responses"]
    assert set(responses["200"]["content"]) == {"application/json", "text/csv"}
