"""Every error leaves the service as ``application/problem+json`` (RFC 9457), made here only."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, NoReturn

from flask import Response, json, request
from flask_smorest import Api
from flask_smorest import abort as smorest_abort
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://okr.example.org/problems/"


def problem(status: int, detail: str | None = None, **extra: Any) -> Response:
    """A problem response; ``type`` names the status (``/problems/conflict``) unless given."""
    return Response(json.dumps(problem_document(status, detail, **extra)), status=status,
                    mimetype=PROBLEM_CONTENT_TYPE)


def problem_document(status: int, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": extra.pop("type", PROBLEM_TYPE_BASE + title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail or HTTPStatus(status).description,
        "instance": request.path if request else None,
    }
    body.update({key: value for key, value in extra.items() if value is not None})
    return body


def abort_with_problem(status: int, detail: str, **extra: Any) -> NoReturn:
    """Stop the request with a problem document (``errors``, ``type``... go in ``extra``)."""
    smorest_abort(status, message=detail, **extra)
    raise AssertionError("unreachable")  # pragma: no cover


class ProblemApi(Api):
    """flask-smorest's ``Api`` whose error responses are problem documents."""

    def handle_http_exception(self, error: HTTPException) -> Response:
        status = error.code or 500
        data: dict[str, Any] = getattr(error, "data", None) or {}
        detail = data.get("message") or error.description
        extra: dict[str, Any] = {}
        if "messages" in data:  # webargs/marshmallow validation errors, by location
            messages = data["messages"]
            if isinstance(messages, dict) and set(messages) == {"json"}:
                messages = messages["json"]
            extra["errors"] = messages
            if status == 422:
                detail = "The request body or query failed validation; see 'errors'."
        if "errors" in data:
            extra["errors"] = data["errors"]
        if "type" in data:
            extra["type"] = data["type"]
        response = problem(status, detail, **extra)
        for name, value in (data.get("headers") or {}).items():
            response.headers[name] = value
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response


def handle_unexpected(error: Exception) -> Response:
    log.exception("unhandled error")
    return problem(500, "An unexpected error occurred; it has been logged.")
