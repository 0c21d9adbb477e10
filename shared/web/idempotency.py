"""``Idempotency-Key`` on the routes of every service: reading the header, the fingerprint
of the request, the answer and its headers, and the OpenAPI description.

The mechanism (scope, fingerprint, one transaction, concurrent twins) is
``shared/idempotency.py``; the input boundary (``boundary.py``) has already refused a key
that is not 1 to 200 printable ASCII characters, or that holds a comma (400).

A replay answers with the first answer's body and the headers made from it (``Location``,
``ETag``), with status 200 instead of 201 and ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Response, request
from marshmallow import Schema

from shared.idempotency import Answer, IdempotentRequest, fingerprint
from shared.web.blueprints import Blueprint

F = TypeVar("F", bound=Callable[..., Any])

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
REPLAY_DESCRIPTION = ("a retry with the same Idempotency-Key and body: the first answer, "
                      f"with {REPLAYED_HEADER}: true")


def idempotent_request(body: Any) -> IdempotentRequest | None:
    """The request's key with the fingerprint of this operation, path and validated body;
    None without the header."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    return IdempotentRequest(key, fingerprint(f"{request.method} {request.path}", body))


def answer(result: Answer, headers: Mapping[str, str] | None = None) -> Response:
    """The HTTP answer: 200 and ``Idempotent-Replayed: true`` for a replay."""
    response = Response(result.body, status=200 if result.replayed else result.status,
                        mimetype="application/json", headers=dict(headers or {}))
    if result.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return response


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
                   "body gets 422. Keys are the caller's own (its token), kept 72 hours "
                   "(OKR_IDEMPOTENCY_RETENTION_HOURS)."}
