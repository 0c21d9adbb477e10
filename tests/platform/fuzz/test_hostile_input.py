"""Every route of the three services, fed hostile values (``tests/support/hostile.py``) beyond
anything their OpenAPI documents allow: no answer is a server error, every error is a problem
document, every JSON body the services write is RFC 8259 JSON, and a refused request changes
nothing stored (every row of every table of the service, compared before and after).

The routes come from each app's URL map, so a new route is fuzzed without a change here.
``OKR_HOSTILE_EXAMPLES`` sets the examples per write route (default 12; a quarter of it for
reads, whose only input is the URL and headers).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, MetaData, select

from services.goals.adapters import tables as goals_tables
from services.goals.bootstrap import Goals
from services.metrics.adapters import tables as metrics_tables
from services.metrics.bootstrap import Metrics
from services.metrics.entrypoints.api.app import create_app as create_metrics_app
from services.notifications.adapters import tables as notifications_tables
from services.notifications.bootstrap import Notifications
from services.notifications.entrypoints.api.app import create_app as create_notifications_app
from shared.web.problems import PROBLEM_CONTENT_TYPE
from shared.web.remote_auth import TokenIntrospector
from tests.conftest import ADMIN_TOKEN, ApiClient
from tests.metrics import goal_events as ge
from tests.metrics.conftest import metrics, metrics_config, metrics_database_url
from tests.metrics.read_model import apply_events
from tests.notifications.builders import new_secret
from tests.notifications.conftest import (
    notifications,
    notifications_config,
    notifications_database_url,
)
from tests.platform.fuzz.test_goals_api_fuzz import seed
from tests.support import hostile

__all__ = ["metrics", "metrics_config", "metrics_database_url", "notifications",
           "notifications_config", "notifications_database_url"]

EXAMPLES = int(os.environ.get("OKR_HOSTILE_EXAMPLES", "12"))
SKIPPED = ("/static/", "/readyz")  # no input; /readyz waits on the broker


def stored(engine: Engine, metadata: MetaData) -> dict[str, list[str]]:
    """Every row of every table of a service."""
    with engine.connect() as connection:
        return {table.name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
                for table in metadata.sorted_tables}


def strict_json(text: str) -> Any:
    def refuse(literal: str) -> Any:
        raise AssertionError(f"{literal} written into a JSON body")

    return json.loads(text, parse_constant=refuse)


def check_answer(response: Any) -> None:
    status, body = response.status_code, response.get_data(as_text=True)
    assert status < 500, (status, body[:500])
    if status >= 400:
        assert response.mimetype == PROBLEM_CONTENT_TYPE, (status, response.headers, body[:300])
        document = strict_json(body)
        assert document["status"] == status and document["title"] and document["detail"]
    elif response.mimetype == "application/json" and body:
        strict_json(body)
    for value in (response.headers.get("X-Pagination"),):
        if value:
            strict_json(value)


Route = tuple[str, str]  # method, rule


def routes_of(app: Flask) -> list[Route]:
    return sorted((method, rule.rule) for rule in app.url_map.iter_rules()
                  for method in rule.methods - {"HEAD", "OPTIONS"}
                  if not rule.rule.startswith(SKIPPED))


def requests_for(app: Flask, existing: dict[str, list[str]],
                 valid_bodies: dict[Route, dict[str, Any]],
                 ) -> dict[Route, st.SearchStrategy[dict[str, Any]]]:
    """Hostile requests to each of ``app``'s routes: path parameters either existing
    items or hostile text, a hostile query, headers and body (often the route's valid body
    with one field hostile), as the admin or with a hostile ``Authorization``."""

    @st.composite
    def request(draw: Callable[..., Any], method: str, rule: str) -> dict[str, Any]:
        path = rule
        while "<" in path:
            start, end = path.index("<"), path.index(">")
            prefix = path[:start]
            known = next((ids for key, ids in existing.items() if prefix.startswith(key)), [])
            value = draw(st.one_of(st.sampled_from(known), hostile.hostile_path_segment())
                         if known else hostile.hostile_path_segment())
            path = path[:start] + value + path[end + 1:]
        # One part hostile at a time, mostly the body: a hostile header or credential is
        # refused before the body could reach a handler.
        hostile_part = draw(st.sampled_from(["body", "body", "body", "headers", "query"]))
        query = draw(hostile.hostile_query) if hostile_part == "query" else ""
        headers = draw(hostile.hostile_headers) if hostile_part == "headers" else {}
        if method in ("PATCH", "DELETE") and "If-Match" not in headers:
            headers["If-Match"] = '"1"'
        authorization = (draw(st.one_of(st.just(f"Bearer {ADMIN_TOKEN}"),
                                        hostile.hostile_authorization))
                         if hostile_part == "headers" else f"Bearer {ADMIN_TOKEN}")
        if authorization is not None:
            headers["Authorization"] = authorization
        valid = valid_bodies.get((method, rule))
        body = None
        if hostile_part == "body" and (method in ("POST", "PATCH", "PUT") or draw(st.booleans())):
            body = draw(hostile.hostile_bodies(valid))
        elif valid is not None:
            body = json.dumps(valid).encode()
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        return {"method": method, "path": path + (f"?{query}" if query else ""),
                "headers": headers, "data": body}

    return {route: request(*route) for route in routes_of(app)}


def fuzz(client: FlaskClient, snapshot: Callable[[], dict[str, list[str]]],
         requests: dict[Route, st.SearchStrategy[dict[str, Any]]]) -> None:
    """``EXAMPLES`` hostile requests to each route; the first unsound answer fails. What is
    stored is compared around every write (a read stores nothing to compare)."""
    state = [snapshot()]
    for (method, _), strategy in requests.items():
        @given(sent=strategy)
        @settings(max_examples=EXAMPLES if method != "GET" else max(1, EXAMPLES // 4),
                  deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def answers_are_sound(sent: dict[str, Any]) -> None:
            response = client.open(sent["path"], method=sent["method"],
                                   headers=sent["headers"], data=sent["data"])
            check_answer(response)
            if sent["method"] != "GET":
                now = snapshot()
                if response.status_code >= 400:
                    assert now == state[0], f"a refused request changed what is stored: {sent}"
                state[0] = now

        answers_are_sound()


# -- the goals service -------------------------------------------------------------------------

def goals_valid_bodies(existing: dict[str, list[str]]) -> dict[Route, dict[str, Any]]:
    revenue = existing["/v1/key-results/"][1]
    sales, collective = existing["/v1/objectives/"][1], existing["/v1/objectives/"][0]
    return {
        ("POST", "/v1/departments"): {"key": "legal", "name": "Legal"},
        ("PATCH", "/v1/departments/<string:key>"): {"name": "Sales EMEA"},
        ("POST", "/v1/cycles"): {"key": "2027-Q1", "starts_on": "2027-01-01",
                                 "ends_on": "2027-03-31"},
        ("PATCH", "/v1/cycles/<string:key>"): {"name": "Q4", "ends_on": "2026-12-30"},
        ("POST", "/v1/objectives"): {"cycle": "2026-Q4", "kind": "department",
                                     "departments": ["sales"], "owner": "o", "title": "t"},
        ("PATCH", "/v1/objectives/<string:objective_id>"): {"title": "t", "description": "d"},
        ("POST", "/v1/objectives/<string:objective_id>/key-results"): {
            "title": "t", "measure": "increase", "start": 0, "target": 10, "unit": "EUR"},
        ("PATCH", "/v1/key-results/<string:key_result_id>"): {"title": "t", "target": 5},
        ("POST", "/v1/key-results/<string:key_result_id>/check-ins"): {
            "value": 5, "confidence": 0.5, "note": "n"},
        ("POST", "/v1/check-ins/batch"): {"items": [{"key_result_id": revenue, "value": 1}]},
        ("POST", "/v1/contributions"): {"child_type": "objective", "child_id": sales,
                                        "parent_type": "objective", "parent_id": collective},
        ("POST", "/v1/links"): {"kind": "depends_on", "from_type": "objective",
                                "from_id": sales, "to_type": "objective",
                                "to_id": existing["/v1/objectives/"][0], "note": "n"},
        ("POST", "/v1/tokens"): {"name": "ci", "role": "viewer"},
    }


def test_goals_api_refuses_hostile_input_soundly(goals: Goals, goals_app: Flask,
                                                 api: ApiClient) -> None:
    existing = seed(goals, api)
    fuzz(goals_app.test_client(), lambda: stored(goals.engine, goals_tables.metadata),
         requests_for(goals_app, existing, goals_valid_bodies(existing)))


# -- the metrics service -----------------------------------------------------------------------

@pytest.fixture
def metrics_app(metrics: Metrics, goals_server: str) -> Iterator[tuple[Flask, list[str]]]:
    target, sales, key_result = ge.new_id(), ge.new_id(), ge.new_id()
    apply_events(metrics, ge.cycle(), ge.objective(target, ["marketing", "sales"]),
                 ge.objective(sales, ["sales"]), ge.key_result(key_result, sales),
                 ge.contribution(ge.new_id(), "objective", sales, "objective", target),
                 ge.check_in(key_result, sales, 2, 40.0, confidence=0.9))
    app = create_metrics_app(container=metrics, introspector=TokenIntrospector(goals_server))
    app.config["TESTING"] = True
    yield app, [target, sales]


def test_metrics_api_refuses_hostile_input_soundly(metrics: Metrics,
                                                   metrics_app: tuple[Flask, list[str]]) -> None:
    app, objectives = metrics_app
    fuzz(app.test_client(), lambda: stored(metrics.engine, metrics_tables.metadata),
         requests_for(app, {"/v1/rollups/": objectives}, {}))


# -- the notifications service -----------------------------------------------------------------

@pytest.fixture
def notifications_app(notifications: Notifications,
                      goals_server: str) -> Iterator[tuple[Flask, list[str]]]:
    app = create_notifications_app(container=notifications,
                                   introspector=TokenIntrospector(goals_server))
    app.config["TESTING"] = True
    created = app.test_client().post("/v1/subscriptions", json=webhook(),
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert created.status_code == 201, created.get_json()
    yield app, [created.get_json()["id"]]


def webhook() -> dict[str, Any]:
    return {"recipient": "Head of sales", "department": "sales", "channel": "webhook",
            "url": "https://93.184.216.34/hook", "secret": new_secret(),
            "filters": {"departments": ["sales"]}, "mode": "digest",
            "digest_interval_seconds": 600}


def test_notifications_api_refuses_hostile_input_soundly(
        notifications: Notifications, notifications_app: tuple[Flask, list[str]]) -> None:
    app, subscriptions = notifications_app
    fuzz(app.test_client(),
         lambda: stored(notifications.engine, notifications_tables.metadata),
         requests_for(app, {"/v1/subscriptions/": subscriptions, "/v1/deliveries/": []},
                      {("POST", "/v1/subscriptions"): webhook(),
                       ("PATCH", "/v1/subscriptions/<string:subscription_id>"): {
                           "recipient": "x", "mode": "immediate"}}))


def test_a_strict_reader_refuses_what_json_dumps_would_write() -> None:
    """The checks above would catch a NaN written into a body."""
    with pytest.raises(AssertionError):
        strict_json(json.dumps({"progress": math.nan}))
