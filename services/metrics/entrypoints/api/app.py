"""The metrics HTTP API: roll-ups, and ``/metrics`` rendered from the read model."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask, Response, current_app

from services.metrics.adapters.explain_queries import ExplainQueries
from services.metrics.adapters.exposition import (
    CONTENT_TYPE,
    RenderedRows,
    read_model_exposition,
)
from services.metrics.adapters.rollup_queries import RollupQueries
from services.metrics.bootstrap import Metrics, bootstrap
from services.metrics.config import SERVICE, MetricsConfig
from services.metrics.entrypoints.api.explain import explanations
from services.metrics.entrypoints.api.rollups import rollups
from shared.observability.collectors import OutboxBacklogCollector
from shared.web.readiness import broker_check, database_check
from shared.web.remote_auth import TokenIntrospector, install_authentication
from shared.web.shell import create_service_app

DESCRIPTION = """Roll-ups of the shared OKRs, computed from the events of `okr.goals.v1`:
each objective's progress, expected progress and status, its children and the links of
its subtree to other departments. `/metrics` exposes the same figures to Prometheus.
Authenticate `/v1/...` with `Authorization: Bearer <token>` (tokens of the goals service).
Errors are `application/problem+json`."""


def metrics_container() -> Metrics:
    container: Metrics = current_app.extensions["okr.metrics"]
    return container


def create_app(config: MetricsConfig | None = None, container: Metrics | None = None,
               introspector: TokenIntrospector | None = None) -> Flask:
    container = container or bootstrap(config)
    app, api = create_service_app(
        SERVICE,
        title="OKR metrics service",
        description=DESCRIPTION,
        readiness_checks={
            "database": database_check(lambda: metrics_container().engine),
            "kafka": broker_check(lambda: metrics_container().config.kafka),
        },
        collectors=[OutboxBacklogCollector(SERVICE, lambda: metrics_container().engine,
                                           container.outbox)],
    )
    app.extensions["okr.metrics"] = container
    app.extensions["okr.metrics.queries"] = RollupQueries(container.engine)
    app.extensions["okr.metrics.explain"] = ExplainQueries(
        container.engine, container.config.stale_after_days * 86_400.0)
    install_authentication(
        app, introspector or TokenIntrospector.from_settings(container.config.auth), SERVICE)
    api.register_blueprint(rollups)
    api.register_blueprint(explanations)
    _serve_read_model_metrics(app)
    return app


def _serve_read_model_metrics(app: Flask) -> None:
    """``/metrics``: the process's plumbing metrics, then the read model's families.

    The two halves are also served alone, for a deployment that runs several replicas:
    ``/metrics/process`` (this process: scrape every replica) and ``/metrics/read-model``
    (the database's read model, the same from every replica: scrape one, e.g. through the
    Service). See docs/metrics.md, "Scraping replicas"."""
    plumbing = app.view_functions["metrics"]

    def process() -> list[bytes]:
        served = plumbing()
        assert isinstance(served, Response)
        return [served.get_data()]

    rendered = RenderedRows()  # the key results' lines of the last scrape, for the next one

    def read_model() -> list[bytes]:
        container = metrics_container()
        return read_model_exposition(container.engine, container.config.max_series,
                                     rendered=rendered)

    def exposition(*parts: Callable[[], list[bytes]]) -> Response:
        """The parts' pieces, sent one after another (not joined into one body)."""
        started = time.perf_counter()
        response = Response([piece for part in parts for piece in part() if piece],
                            mimetype=None, content_type=CONTENT_TYPE)
        response.headers["X-Render-Seconds"] = f"{time.perf_counter() - started:.3f}"
        return response

    app.view_functions["metrics"] = lambda: exposition(process, read_model)
    app.add_url_rule("/metrics/process", "metrics_process", lambda: exposition(process))
    app.add_url_rule("/metrics/read-model", "metrics_read_model", lambda: exposition(read_model))
