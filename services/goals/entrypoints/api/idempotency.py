"""``Idempotency-Key`` on the routes: every creating ``POST`` answers through :func:`created`.

The mechanism (scope, fingerprint, one transaction, concurrent twins) is the service
layer's: ``services/goals/service_layer/idempotency.py``. Here: reading the header, the
fingerprint of the request, the answer and its headers, and the OpenAPI description.

A replay answers with the first answer's body and headers (``Location``, ``ETag``), with
status 200 instead of 201 (as check-ins always have) and ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Response, current_app, json, request
from marshmallow import Schema

from services.goals.entrypoints.api.access import goals, principal, request_id
from services.goals.service_layer import idempotency as mechanism
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.web.blueprints import Blueprint

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
REPLAY_DESCRIPTION = ("a retry with the same Idempotency-Key and body: the first answer, "
                      f"with {REPLAYED_HEADER}: true")


def idempotent_request(body: Any) -> mechanism.IdempotentRequest | None:
    """The request's key (the input boundary checked its form: 1 to 200 printable ASCII
    characters) with the fingerprint of this operation, path and validated body."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    return mechanism.IdempotentRequest(
        key, mechanism.fingerprint(f"{request.method} {request.path}", body))


def answer(result: mechanism.Answer, headers: Mapping[str, str] | None = None) -> Response:
    """The HTTP answer: 200 and ``Idempotent-Replayed: true`` for a replay."""
    response = Response(result.body, status=200 if result.replayed else result.status,
                        mimetype="application/json", headers=dict(headers or {}))
    if result.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response


def created(body: Any, create: Callable[[UnitOfWork], T], schema: Schema,
            headers: Callable[[dict[str, Any]], dict[str, str]]) -> Response:
    """Run the use case ``create`` once per ``Idempotency-Key``; answer 201 with what
    ``schema`` dumps of its result and the ``headers`` made from that body (so a replay,
    which has only the stored body, gets the same ones)."""
    result = mechanism.create_once(
        goals().unit_of_work(request_id()), principal(), idempotent_request(body), create,
        lambda item: current_app.json.dumps(schema.dump(item)))
    return answer(result, headers(json.loads(result.body)))


def documented(blueprint: Blueprint, schema: type[Schema] | Schema) -> Callable[[F], F]:
    """The OpenAPI description of a creating ``POST`` that takes an ``Idempotency-Key``."""
    def decorate(view: F) -> F:
        view = blueprint.alt_response(200, schema=schema, success=True,
                                      description=REPLAY_DESCRIPTION)(view)
        return blueprint.doc(parameters=[HEADER_PARAMETER])(view)
    return decorate


HEADER_PARAMETER = {
    "in": "header", "name": IDEMPOTENCY_HEADER, "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": "a retry with the same key and body is applied once and gets the first "
                   f"answer (status 200, {REPLAYED_HEADER}: true); the same key with another "
                   "body gets 422. Keys are the caller's own, kept 72 hours "
                   "(OKR_IDEMPOTENCY_RETENTION_HOURS)."}
