"""Health, readiness, the OpenAPI document and the Prometheus metrics of the goals service."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from services.goals.bootstrap import Goals
from tests.conftest import ApiClient
from tests.goals.api.conftest import assert_problem
from tools.embedded_broker import EmbeddedBroker


def test_healthz_answers_without_a_token(api: ApiClient) -> None:
    response = api.as_token(None).get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_200_with_the_broker_up_and_a_503_problem_without_it(
    api: ApiClient, broker: EmbeddedBroker
) -> None:
    anonymous = api.as_token(None)
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json() == {"status": "ready", "checks": {"database": "ok", "kafka": "ok"}}

    broker.stop()
    body = assert_problem(anonymous.get("/readyz"), 503)
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["kafka"] != "ok"
    assert "kafka" in body["detail"]


def test_openapi_json_describes_every_route(api: ApiClient) -> None:
    response = api.as_token(None).get("/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.get_data(as_text=True))
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path, methods in {
        "/v1/departments": {"get", "post"}, "/v1/departments/{key}": {"get", "patch"},
        "/v1/cycles": {"get", "post"}, "/v1/cycles/{key}": {"get", "patch"},
        "/v1/tokens": {"get", "post"}, "/v1/tokens/{token_id}": {"delete"},
        "/v1/audit": {"get"},
    }.items():
        assert path in paths, sorted(paths)
        assert methods <= set(paths[path]), (path, paths[path])
    assert "bearer" in document["components"]["securitySchemes"]


def test_metrics_expose_the_outbox_backlog_and_http_requests(
    api: ApiClient, seeded: Goals
) -> None:
    api.post("/v1/cycles", json={"key": "2026-Q4", "starts_on": "2026-10-01",
                                 "ends_on": "2026-12-31"})
    api.get("/v1/departments")
    response = api.as_token(None).get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    families = {family.name: family
                for family in text_string_to_metric_families(response.get_data(as_text=True))}

    (pending,) = families["okr_outbox_pending_events"].samples
    assert pending.labels == {"service": "goals"}
    assert pending.value == 5  # four seeded departments and one cycle; no relay runs
    requests = [sample for sample in families["okr_http_requests"].samples
                if sample.name == "okr_http_requests_total"]
    assert any(s.labels["route"] == "/v1/departments" and s.labels["method"] == "GET"
               and s.labels["status"] == "200" for s in requests), requests
    assert any(s.labels["route"] == "/v1/cycles" and s.labels["status"] == "201"
               for s in requests), requests
    assert all("2026-Q4" not in s.labels["route"] for s in requests)  # templates, not ids
