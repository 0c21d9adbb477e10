"""``Idempotency-Key`` on the goals routes: every creating ``POST`` answers through
:func:`created`.

The mechanism is ``shared/idempotency.py`` (bound to the goals' unit of work in
``services/goals/service_layer/idempotency.py``); the header, the answer and the OpenAPI
description are every service's (``shared/web/idempotency.py``).

A replay answers with the first answer's body and headers (``Location``, ``ETag``), with
status 200 instead of 201 (as check-ins always have) and ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, json
from marshmallow import Schema

from services.goals.entrypoints.api.access import goals, principal, request_id
from services.goals.service_layer import idempotency as mechanism
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.web.idempotency import (
    HEADER_PARAMETER,
    IDEMPOTENCY_HEADER,
    REPLAY_DESCRIPTION,
    REPLAYED_HEADER,
    answer,
    documented,
    idempotent_request,
)

__all__ = ["HEADER_PARAMETER", "IDEMPOTENCY_HEADER", "REPLAYED_HEADER", "REPLAY_DESCRIPTION",
           "answer", "created", "documented", "idempotent_request"]

T = TypeVar("T")


def created(body: Any, create: Callable[[UnitOfWork], T], schema: Schema,
            headers: Callable[[dict[str, Any]], dict[str, str]]) -> Response:
    """Run the use case ``create`` once per ``Idempotency-Key``; answer 201 with what
    ``schema`` dumps of its result and the ``headers`` made from that body (so a replay,
    which has only the stored body, gets the same ones)."""
    result = mechanism.create_once(
        goals().unit_of_work(request_id()), principal(), idempotent_request(body), create,
        lambda item: current_app.json.dumps(schema.dump(item)))
    return answer(result, headers(json.loads(result.body)))
