"""The roll-up API over a read model on each engine, authenticated by a real goals service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.metrics.bootstrap import Metrics
from services.metrics.entrypoints.api.app import create_app
from shared.web.remote_auth import TokenIntrospector
from tests.conftest import ADMIN_TOKEN, mint_token
from tests.metrics import goal_events as ge
from tests.metrics.read_model import apply_events

TARGET, SALES, MARKETING, FINANCE = (ge.new_id() for _ in range(4))
KR_SALES, KR_MARKETING, KR_FINANCE = (ge.new_id() for _ in range(3))


@pytest.fixture
def client(metrics: Metrics, goals_server: str) -> Iterator[FlaskClient]:
    app = create_app(container=metrics, introspector=TokenIntrospector(goals_server))
    app.config["TESTING"] = True
    apply_events(
        metrics, ge.cycle(),
        ge.objective(TARGET, ["marketing", "sales"], title="Grow new revenue"),
        ge.objective(SALES, ["sales"]), ge.objective(MARKETING, ["marketing"]),
        ge.objective(FINANCE, ["finance"]),
        ge.key_result(KR_SALES, SALES), ge.key_result(KR_MARKETING, MARKETING),
        ge.key_result(KR_FINANCE, FINANCE),
        ge.contribution(ge.new_id(), "objective", SALES, "objective", TARGET, weight=3.0),
        ge.contribution(ge.new_id(), "objective", MARKETING, "objective", TARGET),
        ge.check_in(KR_SALES, SALES, 2, 40.0, confidence=0.9),
        ge.check_in(KR_MARKETING, MARKETING, 2, 80.0, confidence=0.6),
        ge.check_in(KR_FINANCE, FINANCE, 2, 10.0, confidence=0.2),
        ge.link(ge.new_id(), SALES, "sales", "key_result", KR_FINANCE, "finance",
                kind="funded_by"),
    )
    yield app.test_client()


def _get(client: FlaskClient, path: str, token: str | None = ADMIN_TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, headers=headers)


def test_rollup_lists_filter_by_cycle_kind_and_department_and_paginate(
        client: FlaskClient) -> None:
    response = _get(client, "/v1/rollups?kind=collective")
    assert response.status_code == 200, response.json
    [target] = response.json
    assert target["objective_id"] == TARGET
    assert target["progress"] == pytest.approx((3 * 0.4 + 0.8) / 4)
    assert target["departments"] == ["marketing", "sales"]
    assert 0 < target["expected_progress"] <= 1
    sales = {item["objective_id"] for item in _get(client, "/v1/rollups?department=sales").json}
    assert sales == {TARGET, SALES}
    page = _get(client, "/v1/rollups?cycle=2026-Q4&page=2&page_size=3")
    assert len(page.json) == 1
    assert '"total": 4' in page.headers["X-Pagination"]
    unknown = _get(client, "/v1/rollups?cycle=2027-Q1")  # was [], as if it had no roll-ups
    assert unknown.status_code == 400 and "'2027-Q1'" in unknown.json["detail"]


def test_rollup_of_an_objective_has_its_tree_to_the_depth_asked_and_links_with_their_status(
        client: FlaskClient) -> None:
    alone = _get(client, f"/v1/rollups/{TARGET}?depth=0").json
    assert (alone["children"], alone["links"]) == ([], [])  # the link hangs below it
    shallow = _get(client, f"/v1/rollups/{TARGET}?depth=1").json
    assert {child["objective_id"] for child in shallow["children"]} == {SALES, MARKETING}
    assert all(child["children"] == [] for child in shallow["children"])
    assert len(shallow["links"]) == 1  # from the sales objective, in the subtree

    deep = _get(client, f"/v1/rollups/{TARGET}?depth=2").json
    sales = next(child for child in deep["children"] if child["objective_id"] == SALES)
    assert sales["contribution_weight"] == 3.0
    assert [kr["key_result_id"] for kr in sales["children"]] == [KR_SALES]
    assert sales["children"][0]["progress"] == 0.4
    [link] = deep["links"]
    assert (link["kind"], link["direction"], link["to_department"]) == (
        "funded_by", "outgoing", "finance")
    assert link["linked_item"]["progress"] == 0.1
    assert link["linked_item"]["status"] == "off_track"  # finance's confidence is 0.2
    assert link["linked_item"]["archived"] is False


def test_a_linked_item_says_when_its_objective_is_archived(client: FlaskClient,
                                                           metrics: Metrics) -> None:
    """So a page can mark the other end of a link archived rather than show its status as
    a live one (the console's objective page)."""
    apply_events(metrics, ge.objective(FINANCE, ["finance"], version=2, status="archived"))
    [link] = _get(client, f"/v1/rollups/{TARGET}?depth=2").json["links"]
    assert link["linked_item"]["archived"] is True


def test_rollup_api_refuses_without_a_valid_token_and_with_bad_parameters(
        client: FlaskClient, goals_server: str) -> None:
    assert _get(client, "/v1/rollups", token=None).status_code == 401
    assert _get(client, "/v1/rollups", token="not-a-token").status_code == 401
    viewer = mint_token(goals_server, "viewer")
    assert _get(client, "/v1/rollups", token=viewer).status_code == 200
    for bad in ("/v1/rollups?kind=team", "/v1/rollups?department=Sales%22",
                f"/v1/rollups/{TARGET}?depth=99", f"/v1/rollups/{TARGET}?depth=x"):
        response = _get(client, bad)
        assert response.status_code == 422, bad
        assert response.content_type == "application/problem+json"
    # int() reads each of these as 1 (Arabic-Indic one, spaces, '_'): refused, not page 1
    for number in ("%D9%A1", "%201", "1%20", "1_0", "%EF%BC%91"):
        for bad in (f"/v1/rollups?page={number}", f"/v1/rollups?page_size={number}",
                    f"/v1/rollups/{TARGET}?depth={number}"):
            response = _get(client, bad)
            assert response.status_code == 422, bad
            assert response.content_type == "application/problem+json"
            assert "digits 0 to 9" in response.get_data(as_text=True), bad
    assert _get(client, "/v1/rollups?page=1&page_size=1").status_code == 200
    missing = _get(client, f"/v1/rollups/{ge.new_id()}")
    assert missing.status_code == 404
    assert missing.content_type == "application/problem+json"
    assert client.get("/metrics").status_code == 200  # scrapers need no token
    document = client.get("/openapi.json").get_json()
    assert document["paths"]["/v1/rollups/{objective_id}"]
