"""``create_service_app``: the Flask app every service starts from.

It wires, in one place: the input boundary (``boundary.py``: what every request must be
before any handler runs), problem+json errors, ``/healthz`` and ``/readyz``, ``/metrics``,
``/openapi.json``, the reference pages of ``reference.py`` (``/docs``, served from installed
files, the problem types, the event contract), a request id on every request
(``X-Request-ID``, echoed and logged), and HTTP request metrics by route template.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, g, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

from shared.observability.logging import bind_log_context
from shared.observability.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS
from shared.web.boundary import InputLimits, install_input_boundary
from shared.web.csv_export import install_csv_exports
from shared.web.problems import ProblemApi, handle_unexpected, problem
from shared.web.reference import install_reference

#: An ``X-Request-ID`` a client sends is kept only if it looks like an id (it is logged,
#: echoed and stored with audit entries); otherwise the service makes its own.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

ReadinessCheck = Callable[[], str | None]
"""Returns None when the dependency is reachable, or a short reason when it is not."""


def create_service_app(
    service: str,
    *,
    title: str,
    description: str,
    readiness_checks: dict[str, ReadinessCheck],
    collectors: Iterable[Collector] = (),
    settings: dict[str, Any] | None = None,
    limits: InputLimits | None = None,
) -> tuple[Flask, ProblemApi]:
    app = Flask(service)
    # a path with an empty segment (/v1/rollups//explain) is not found: Werkzeug would
    # otherwise answer a 308 with an HTML body, pointing at another resource
    app.url_map.merge_slashes = False
    app.config.update(
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": description},
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearer": []}],
        },
        JSON_SORT_KEYS=False,
    )
    app.config.update(settings or {})
    api = ProblemApi(app)
    app.register_error_handler(Exception, handle_unexpected)
    _add_request_tracking(app, service, limits or InputLimits.from_env())
    _add_operational_routes(app, readiness_checks, list(collectors))
    install_reference(app)
    install_csv_exports(app)
    return app, api


def _add_request_tracking(app: Flask, service: str, limits: InputLimits) -> None:
    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        bind_log_context(request_id=g.request_id)

    install_input_boundary(app, limits)  # the next hook: before authentication and views

    @app.after_request
    def _finish(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
        HTTP_REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
        HTTP_REQUEST_DURATION.labels(service, request.method, route).observe(elapsed)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response


def _add_operational_routes(
    app: Flask, checks: dict[str, ReadinessCheck], collectors: list[Collector]
) -> None:
    registry = _registry(collectors)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> Response:
        failures = {name: reason for name, check in checks.items() if (reason := check())}
        if failures:
            return problem(503, "Not ready: " + "; ".join(f"{k}: {v}" for k, v in failures.items()),
                           checks={name: failures.get(name, "ok") for name in checks})
        return jsonify(status="ready", checks={name: "ok" for name in checks})

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _registry(collectors: list[Collector]) -> CollectorRegistry:
    """The process registry, or a multiprocess view when gunicorn runs several workers."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessRegistry())
    for collector in collectors:
        registry.register(collector)
    return registry


class _ProcessRegistry(Collector):
    """Exposes the default process registry's metrics through a per-app registry."""

    def collect(self):  # type: ignore[no-untyped-def]
        return REGISTRY.collect()
