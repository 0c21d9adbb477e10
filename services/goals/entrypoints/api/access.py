"""Bearer authentication and domain errors, for every route.

``expected_version`` and ``with_etag`` (``shared.web.concurrency``) are re-exported here
for the goals routes."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, g, request
from sqlalchemy import Connection

from services.goals.bootstrap import Goals
from services.goals.domain.access import Principal
from services.goals.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    StaleVersion,
)
from services.goals.service_layer.tokens import authenticate
from shared.web.concurrency import expected_version, with_etag
from shared.web.problems import (
    abort_with_problem,
    domain_problem,
    install_domain_errors,
    problem,
)
from shared.web.reference import OPEN_PATHS as REFERENCE_PATHS

__all__ = ["expected_version", "goals", "install", "principal", "problem_body",
           "refuse_unknown_references", "request_id", "with_etag"]

_STATUS_OF: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 422), (IdempotencyKeyReused, 422), (NotFound, 404), (Conflict, 409),
    (Forbidden, 403), (StaleVersion, 412),
)

OPEN_PATHS = ("/healthz", "/readyz", "/metrics", *REFERENCE_PATHS)
#: Routes under /v1 that answer without a token (matched by endpoint, not by path prefix).
OPEN_ENDPOINTS = ("tokens.TokenRevocations",)


def goals() -> Goals:
    """The service's container; inside an authenticated request, bound to its connection."""
    container: Goals = current_app.extensions["okr.goals"]
    connection: Connection | None = g.get("connection")
    return container if connection is None else container.on_connection(connection)


def request_id() -> str | None:
    value: str | None = g.get("request_id")
    return value


def principal() -> Principal:
    who: Principal = g.principal
    return who


def install(app: Flask) -> None:
    @app.before_request
    def _authenticate() -> Response | None:
        if (request.path.startswith(OPEN_PATHS) or request.url_rule is None
                or request.endpoint in OPEN_ENDPOINTS):
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return _unauthorised("send 'Authorization: Bearer <token>'")
        # One connection for the whole request: the token lookup and the request's own
        # units of work share it (and, on PostgreSQL, one transaction; see UnitOfWork).
        container: Goals = current_app.extensions["okr.goals"]
        g.connection = container.engine.connect()
        who = authenticate(goals().reading(), secret.strip(), container.config.admin_token,
                           container.token_cache)
        if who is None:
            return _unauthorised("the token is unknown or revoked")
        g.principal = who
        return None

    @app.teardown_request
    def _release_connection(_error: BaseException | None) -> None:
        connection: Connection | None = g.pop("connection", None)
        if connection is not None:
            connection.close()  # rolls back whatever the request left open

    install_domain_errors(app, DomainError, _STATUS_OF)


def refuse_unknown_references(uow: Any, *, department: str | None = None,
                              cycle: str | None = None) -> None:
    """A list filter naming a department or cycle that does not exist: 400 naming it (an
    empty list would read as "none of those")."""
    unknown: dict[str, str] = {}
    if department is not None and uow.departments.get(department) is None:
        unknown["department"] = f"no department {department!r} exists"
    if cycle is not None and uow.cycles.get(cycle) is None:
        unknown["cycle"] = f"no cycle {cycle!r} exists"
    if unknown:
        abort_with_problem(400, "; ".join(unknown.values()) + ".",
                           errors={"query": {name: [why] for name, why in unknown.items()}})


def problem_body(error: DomainError) -> tuple[int, dict[str, Any]]:
    """The status and problem document a domain error answers with."""
    return domain_problem(error, _STATUS_OF)


def _unauthorised(detail: str) -> Response:
    response = problem(401, detail)
    response.headers["WWW-Authenticate"] = 'Bearer realm="okr"'
    return response
