"""What the operation a request is routed to reads: its query parameters and its body.

Read from what flask-smorest's decorators declared on the view (``@blp.arguments``,
``@blp.paginate``), the same declarations the OpenAPI document is built from, so what the
input boundary and the query check enforce is what the document says. Requests routed to
no API operation (``/healthz``, ``/metrics``, ``/docs``, an unknown path) have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, request
from marshmallow import Schema, fields

PAGINATION_PARAMETERS = {"page": False, "page_size": False}


@dataclass(frozen=True)
class Operation:
    #: query parameter name -> whether it may be repeated (a list)
    query: dict[str, bool]
    #: whether the operation reads a JSON body; and whether that body is required
    json_body: bool
    body_required: bool


_KNOWN: dict[tuple[str, str], Operation | None] = {}


def current_operation() -> Operation | None:
    """The operation of the current request, or None if it is routed to no API operation."""
    endpoint = request.endpoint
    if request.url_rule is None or endpoint is None:
        return None
    method = "get" if request.method == "HEAD" else request.method.lower()
    key = (endpoint, method)
    if key not in _KNOWN:
        _KNOWN[key] = _operation(endpoint, method)
    return _KNOWN[key]


def _operation(endpoint: str, method: str) -> Operation | None:
    view = current_app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    handler = getattr(view_class, method, None) if view_class is not None else view
    documented: dict[str, Any] | None = getattr(handler, "_apidoc", None)
    if documented is None:
        return None
    query: dict[str, bool] = {}
    json_body = body_required = False
    for parameter in documented.get("arguments", {}).get("parameters", []):
        if parameter["in"] == "query":
            query.update(_names(parameter["schema"]))
        elif parameter["in"] == "json":
            json_body = True
            body_required = body_required or bool(parameter.get("required", True))
    if "pagination" in documented:
        query.update(PAGINATION_PARAMETERS)
    return Operation(query, json_body, body_required)


def _names(schema: Schema | type[Schema]) -> dict[str, bool]:
    declared = schema._declared_fields if isinstance(schema, type) else schema.fields
    return {field.data_key or name: isinstance(field, fields.List)
            for name, field in declared.items() if not field.dump_only}
