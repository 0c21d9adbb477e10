"""Each class of input the boundary refuses (``shared/web/boundary.py``), sent to every service:
the status it answers, a problem document, and nothing stored (every row of every table).

Body classes go to a write route of each service with an otherwise valid body (metrics has
no writes: its roll-up list, with a body); header and date classes to the goals service.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, Response, jsonify
from gunicorn.http.errors import ChunkMissingTerminator, InvalidChunkSize, NoMoreData
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.test import EnvironBuilder, run_wsgi_app

from services.goals.adapters import tables as goals_tables
from services.goals.bootstrap import Goals
from services.metrics.adapters import tables as metrics_tables
from services.metrics.bootstrap import Metrics
from services.notifications.adapters import tables as notifications_tables
from services.notifications.bootstrap import Notifications
from shared.observability.metrics import HANDLED_ERRORS
from shared.web.shell import create_service_app
from tests.conftest import ADMIN_TOKEN, ApiClient
from tests.platform.fuzz.test_goals_api_fuzz import seed
from tests.platform.fuzz.test_hostile_input import (
    check_answer,
    metrics,
    metrics_app,
    metrics_config,
    metrics_database_url,
    notifications,
    notifications_app,
    notifications_config,
    notifications_database_url,
    stored,
    strict_json,
    webhook,
)
from tests.support.hostile import deep, with_field

__all__ = ["metrics", "metrics_app", "metrics_config", "metrics_database_url",
           "notifications", "notifications_app", "notifications_config",
           "notifications_database_url"]

AUTHORIZATION = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

#: (class, raw JSON value put into one text field of a valid body, status)
FIELD_CLASSES = [
    ("nan-literal", "NaN", 400),
    ("infinity-literal", "-Infinity", 400),
    ("number-beyond-a-double", "1e400", 422),
    ("integer-beyond-64-bits", "9" * 25, 422),
    ("integer-of-5000-digits", "9" * 5000, 422),
    ("nested-33-deep", deep(33), 422),
    ("lone-surrogate", '"a\\ud800b"', 422),
    ("nul", '"a\\u0000b"', 422),
    ("c0-control", '"a\\u001bb"', 422),
    ("c1-control", '"a\\u0085b"', 422),
    ("control-in-member-name", '{"na\\u0007me": 1}', 422),
]
#: (class, whole raw body, status)
BODY_CLASSES = [
    ("body-over-1-MiB", b'{"a": "' + b"x" * (1 << 20) + b'"}', 413),
    ("not-utf-8", b'{"a": "caf\xe9"}', 400),
    ("utf-8-encoded-surrogate", b'{"a": "\xed\xa0\x80"}', 400),
    ("nested-100000-deep", deep(100_000).encode(), 422),
    ("nested-objects-1000-deep", deep(1000, "{").encode(), 422),
    ("malformed", b'{"a": 1,}', 400),
]


def refusals(client: Any, method: str, path: str, valid: dict[str, Any], field: str,
             snapshot: Callable[[], Any], headers: dict[str, str] | None = None) -> None:
    """Send every class above to ``path``; each must be refused and change nothing."""
    bodies = [(name, with_field(valid, field, literal).encode("utf-8", "surrogatepass"), status)
              for name, literal, status in FIELD_CLASSES] + BODY_CLASSES
    before = snapshot()
    for name, body, status in bodies:
        response = client.open(path, method=method, data=body,
                               headers={**AUTHORIZATION, "Content-Type": "application/json",
                                        **(headers or {})})
        check_answer(response)
        assert response.status_code == status, (name, response.get_data(as_text=True)[:300])
        if status == 422:
            assert strict_json(response.get_data(as_text=True))["errors"], name
        assert snapshot() == before, name


def test_goals_refuses_every_class(goals: Goals, api: ApiClient) -> None:
    seed(goals, api)
    refusals(api.client, "POST", "/v1/cycles", {"key": "2031-Q1", "starts_on": "2031-01-01",
                                                "ends_on": "2031-03-31", "name": "Q1"},
             "name", lambda: stored(goals.engine, goals_tables.metadata))


def test_notifications_refuses_every_class(
        notifications: Notifications, notifications_app: tuple[Flask, list[str]]) -> None:
    app, _ = notifications_app
    refusals(app.test_client(), "POST", "/v1/subscriptions", webhook(), "recipient",
             lambda: stored(notifications.engine, notifications_tables.metadata))


def test_metrics_refuses_every_class(metrics: Metrics,
                                     metrics_app: tuple[Flask, list[str]]) -> None:
    app, _ = metrics_app
    refusals(app.test_client(), "GET", "/v1/rollups", {"a": "b"}, "a",
             lambda: stored(metrics.engine, metrics_tables.metadata))


V = '"1"'
SUPERSCRIPT_ONE = '"\u00b9"'  # str.isdigit() is true, int() raises
ARABIC_INDIC_12 = '"\u0661\u0662"'.encode().decode("latin-1")  # as UTF-8 bytes reach a WSGI app

#: (class, headers, query, status) of a PATCH of a cycle with a valid body
HEADER_AND_URL_CLASSES = [
    ("if-match-superscript-digit", {"If-Match": SUPERSCRIPT_ONE}, "", 400),
    ("if-match-arabic-indic-digits", {"If-Match": ARABIC_INDIC_12}, "", 400),
    ("if-match-unquoted", {"If-Match": "1"}, "", 400),
    ("if-match-trailing-garbage", {"If-Match": '"1" and more'}, "", 400),
    ("if-match-version-beyond-64-bits", {"If-Match": '"' + "9" * 30 + '"'}, "", 412),
    ("idempotency-key-too-long", {"If-Match": V, "Idempotency-Key": "k" * 201}, "", 400),
    ("idempotency-key-not-ascii", {"If-Match": V, "Idempotency-Key": "caf\u00e9"}, "", 400),
    ("idempotency-key-blank", {"If-Match": V, "Idempotency-Key": " "}, "", 400),
    ("idempotency-key-twice", {"If-Match": V, "Idempotency-Key": "k-a, k-b"}, "", 400),
    ("authorization-not-ascii", {"If-Match": V, "Authorization": "Bearer caf\u00e9"}, "", 400),
    ("authorization-over-4-KiB", {"If-Match": V, "Authorization": "Bearer " + "a" * 5000}, "",
     400),
    ("header-over-8-KiB", {"If-Match": V, "X-Anything": "a" * 9000}, "", 431),
    ("url-c0-control", {"If-Match": V}, "?x=%0A", 400),
    ("url-c1-control", {"If-Match": V}, "?x=%C2%85", 400),
    ("url-over-8-KiB", {"If-Match": V}, "?x=" + "a" * 9000, 414),
]


def test_goals_refuses_hostile_headers_and_urls(goals: Goals, api: ApiClient) -> None:
    seed(goals, api)
    before = stored(goals.engine, goals_tables.metadata)
    for name, headers, query, status in HEADER_AND_URL_CLASSES:
        response = api.client.patch(f"/v1/cycles/2026-Q4{query}", json={"name": "Q4"},
                                    headers={**AUTHORIZATION, **headers})
        check_answer(response)
        assert response.status_code == status, (name, response.get_data(as_text=True))
        assert stored(goals.engine, goals_tables.metadata) == before, name


#: (class, body of a new cycle or query of the cycle list)
DATE_CLASSES = [
    ("cycle-at-the-end-of-the-calendar",
     {"key": "9999-Q4", "starts_on": "9999-10-01", "ends_on": "9999-12-31"}, None),
    ("cycle-before-2000", {"key": "1999-Q4", "starts_on": "1999-10-01",
                           "ends_on": "1999-12-31"}, None),
    ("cycle-into-3000", {"key": "3000-Q1", "starts_on": "2999-12-01",
                         "ends_on": "3000-01-31"}, None),
    ("active-on-9999", None, "active_on=9999-12-31"),
    ("active-on-year-1", None, "active_on=0001-01-01"),
]


def test_dates_outside_2000_to_2999_are_refused(goals: Goals, api: ApiClient) -> None:
    seed(goals, api)
    before = stored(goals.engine, goals_tables.metadata)
    for name, body, query in DATE_CLASSES:
        response = (api.post("/v1/cycles", json=body) if body is not None
                    else api.get(f"/v1/cycles?{query}"))
        check_answer(response)
        assert response.status_code == 422, (name, response.get_json())
        assert stored(goals.engine, goals_tables.metadata) == before, name
    changed = api.patch("/v1/cycles/2026-Q4", json={"ends_on": "9999-12-31"},
                        headers={"If-Match": '"1"'})
    assert changed.status_code == 422 and "ends_on" in changed.get_json()["errors"]
    assert stored(goals.engine, goals_tables.metadata) == before
    assert api.post("/v1/cycles", json={"key": "edge", "starts_on": "2999-10-01",
                                        "ends_on": "2999-12-31"}).status_code == 201


def _probe_app() -> Flask:
    app, _ = create_service_app("probe", title="probe", description="probe",
                                readiness_checks={})

    @app.get("/v1/not-finite")
    def not_finite() -> Any:
        return jsonify(progress=math.inf)

    app.config["TESTING"] = True
    return app


def _non_finite_errors() -> float:
    return HANDLED_ERRORS.labels("probe", "non_finite_json")._value.get()


@pytest.mark.handled_errors("non_finite_json")
def test_a_non_finite_value_never_leaves_as_invalid_json() -> None:
    before = _non_finite_errors()
    response = _probe_app().test_client().get("/v1/not-finite")
    assert response.status_code == 500
    check_answer_body = strict_json(response.get_data(as_text=True))
    assert check_answer_body["status"] == 500
    assert _non_finite_errors() == before + 1


@pytest.mark.parametrize(("path", "status"), [
    ("/v1/no-such-route", 404), ("/healthz?x=1", 200)])
def test_werkzeugs_own_errors_are_problems(path: str, status: int) -> None:
    response = _probe_app().test_client().open(path, method="GET")
    check_answer(response)
    assert response.status_code == status
    response = _probe_app().test_client().open("/healthz", method="DELETE")
    check_answer(response)
    assert response.status_code == 405


class _BrokenChunks(io.RawIOBase):
    """gunicorn's body reader on malformed chunked framing: it raises when read."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise self.error


@pytest.mark.parametrize("error", [InvalidChunkSize(b"zz"), ChunkMissingTerminator(b"xx"),
                                   NoMoreData(b"")], ids=lambda e: type(e).__name__)
def test_malformed_chunked_framing_is_a_400_problem(error: Exception) -> None:
    environ = EnvironBuilder("/healthz", method="POST", headers={
        "Transfer-Encoding": "chunked", "Content-Type": "application/json"}).get_environ()
    environ["wsgi.input"] = _BrokenChunks(error)
    environ["wsgi.input_terminated"] = True
    body, status, headers = run_wsgi_app(_probe_app(), environ)
    response = Response(b"".join(body), status=status, headers=headers)
    check_answer(response)
    assert response.status_code == 400
    if not isinstance(error, NoMoreData):  # a body cut short is werkzeug's 400 already
        assert "framing" in response.get_json()["detail"]


@pytest.mark.handled_errors("database_unavailable")
def test_a_database_that_cannot_be_reached_is_a_503_problem_with_retry_after() -> None:
    app = _probe_app()

    @app.get("/v1/pool-exhausted")
    def pool_exhausted() -> Any:
        raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached")

    before = HANDLED_ERRORS.labels("probe", "database_unavailable")._value.get()
    response = app.test_client().get("/v1/pool-exhausted")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert strict_json(response.get_data(as_text=True))["status"] == 503
    assert response.headers["Retry-After"] == "2"
    assert HANDLED_ERRORS.labels("probe", "database_unavailable")._value.get() == before + 1
