"""Every error leaves the service as ``application/problem+json`` (RFC 9457), made here only."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, NoReturn
from urllib.parse import quote

from apispec import BasePlugin
from flask import Flask, Response, current_app, has_app_context, json, request
from flask_smorest import Api
from flask_smorest import abort as smorest_abort
from flask_smorest.pagination import PaginationMetadataSchema
from marshmallow import INCLUDE, Schema, fields
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from shared.observability.metrics import HANDLED_ERRORS

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
#: Every ``type`` is a URI reference to the page explaining it, served by the service that
#: answered (``GET /problems/<slug>``, ``shared/web/reference.py``): the same reference on
#: every service, resolved against the request's URL (RFC 9457, section 3.1.1).
PROBLEM_TYPE_BASE = "/problems/"
#: ``instance`` is a URI reference: anything else in the path (a control character, a
#: non-ASCII letter) is percent-encoded, so no problem echoes raw hostile text.
URI_PATH_CHARACTERS = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class ProblemType:
    """One problem ``type``: the page at ``uri`` says what it means and what to do."""

    status: int
    slug: str
    title: str
    explanation: str

    @property
    def uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.slug


#: What the platform's own problems mean, beyond the status phrase: who answers them and
#: what the client should do. The statuses not named here are explained by their phrase.
_EXPLANATIONS: dict[int, str] = {
    400: "The request is malformed, so no route looked at it: a body that is not JSON as "
         "RFC 8259 defines it (not UTF-8, a syntax error, NaN or Infinity), a URL holding "
         "control characters, or a malformed If-Match, Idempotency-Key or Authorization "
         "header. 'detail' names what was wrong. Fix the request before sending it again.",
    401: "The request carries no bearer token, or one that is unknown or revoked. Send "
         "'Authorization: Bearer <token>' with a live token (see docs/api.md, "
         "Authentication).",
    403: "The token is valid, but its role or department does not allow this change. Ask "
         "someone whose role or department does, or an administrator.",
    404: "No item has this id or key, or no route has this path. Nothing was changed.",
    405: "The route exists but does not take this method; the Allow header lists those it "
         "takes.",
    406: "The Accept header allows none of the types the route answers: application/json, "
         "or text/csv on the lists exported as CSV (docs/api.md, CSV exports). Ask for one "
         "of those, or send no Accept header for JSON.",
    408: "The request's head or body did not arrive in time (OKR_HTTP_HEAD_TIMEOUT_SECONDS, "
         "OKR_HTTP_BODY_TIMEOUT_SECONDS). Nothing was changed; send it again, whole.",
    409: "The change conflicts with what is stored: a duplicate key, or a contribution that "
         "would close a cycle in the roll-up graph. 'detail' says which.",
    412: "If-Match names a version that is no longer the current one: someone changed the "
         "item since you read it. Read it again (GET), then send the change with its new "
         "ETag.",
    413: "The body is longer than OKR_HTTP_MAX_BODY_BYTES (1 MiB by default), or a chunked "
         "body came in more than 4,096 chunks. Nothing was read or changed; send less.",
    414: "The URL is too long (a request line over 4,094 bytes under gunicorn, a path and "
         "query over 8 KiB otherwise). Narrow the query.",
    415: "The body's Content-Type is not one the route reads; send application/json.",
    422: "The request is well-formed but its values are refused: 'errors' names each field "
         "and why (a missing or unknown member, a value out of range, text holding control "
         "characters, JSON nested too deep, numbers no service stores). Nothing was "
         "changed.",
    428: "An update must say which version it changes: send If-Match with the ETag of your "
         "last read.",
    429: "Too many requests in a short time; wait as long as Retry-After says.",
    431: "A header is too large (a value over 8 KiB, a header line over 8,190 bytes) or "
         "there are more than 100 headers.",
    500: "Something failed inside the service; it has been logged with the request's id "
         "(the X-Request-ID header). Nothing you sent was partly stored. Report it with that "
         "id if it persists.",
    503: "A dependency cannot be reached now: the database, or (metrics and notifications) "
         "the goals service that says who a token stands for; or, for a whole-list CSV "
         "export, the process already streams as many as it may at once "
         "(OKR_CSV_EXPORT_STREAMS). Nothing was changed; try again after Retry-After "
         "seconds, or ask for one page (page, page_size).",
}


def _slug(status: int) -> str:
    return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")


PROBLEM_TYPES: dict[str, ProblemType] = {
    _slug(status): ProblemType(status, _slug(status), status.phrase,
                               _EXPLANATIONS.get(status, status.description + "."))
    for status in HTTPStatus if status >= 400
}
"""Every problem type any service answers with, by slug: one per error status."""


def problem_type(status: int) -> ProblemType:
    """The problem type of an error ``status`` (any status from 400 to 599 HTTP names)."""
    return PROBLEM_TYPES[_slug(status)]


def problem(status: int, detail: str | None = None, **extra: Any) -> Response:
    """A problem response; ``type`` names the status (``/problems/conflict``) unless given."""
    return Response(json.dumps(problem_document(status, detail, **extra)), status=status,
                    mimetype=PROBLEM_CONTENT_TYPE)


def problem_document(status: int, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": extra.pop("type", problem_type(status).uri),
        "title": title,
        "status": status,
        "detail": detail or HTTPStatus(status).description,
        "instance": quote(request.path, safe=URI_PATH_CHARACTERS) if request else None,
    }
    body.update({key: value for key, value in extra.items() if value is not None})
    return body


StatusOf = Sequence[tuple[type[Exception], int]]
"""A service's domain errors and the status each answers with; the first match counts."""


def domain_problem(error: Exception, status_of: StatusOf) -> tuple[int, dict[str, Any]]:
    """The status and problem document a domain error answers with (400 if unlisted); an
    error naming the ``field`` it is about lists it under ``errors``."""
    status = next((code for kind, code in status_of if isinstance(error, kind)), 400)
    field = getattr(error, "field", None)
    extra = {"errors": {field: [str(error)]}} if field else {}
    return status, problem_document(status, str(error), **extra)


def install_domain_errors(app: Flask, base: type[Exception], status_of: StatusOf) -> None:
    """Answer every ``base`` error a route raises with its problem document."""

    @app.errorhandler(base)
    def _domain_error(error: Exception) -> Response:
        status, document = domain_problem(error, status_of)
        return Response(json.dumps(document), status=status, mimetype=PROBLEM_CONTENT_TYPE)


def abort_with_problem(status: int, detail: str, **extra: Any) -> NoReturn:
    """Stop the request with a problem document (``errors``, ``type``... go in ``extra``)."""
    smorest_abort(status, message=detail, **extra)
    raise AssertionError("unreachable")  # pragma: no cover


class ProblemSchema(Schema):
    """An RFC 9457 problem document: the body of every error response."""

    class Meta:
        unknown = INCLUDE  # problem types may add members (RFC 9457, section 3.2)

    type = fields.String(required=True, metadata={
        "description": "URI reference naming the problem, e.g. /problems/not-found: its page "
                       "(on the service that answered) explains it"})
    title = fields.String(required=True, metadata={"description": "the status phrase"})
    status = fields.Integer(required=True)
    detail = fields.String(required=True, metadata={"description": "what went wrong, for people"})
    instance = fields.String(allow_none=True, metadata={"description": "the request path"})
    errors = fields.Raw(metadata={"description": "what failed validation, by field"})


#: An update that answers 428 needs this header; the ETag read names the version.
IF_MATCH_PARAMETER = {
    "in": "header", "name": "If-Match", "required": True,
    "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    "description": "the ETag read (its version, quoted); 428 without it, 412 if it is stale",
}


class ProblemResponses(BasePlugin):
    """Documents the errors every operation can answer, all as problem documents.

    400 (malformed request, unknown query parameters) everywhere; 415 where a JSON body is
    read; with authentication, 401 everywhere and 403 on writes; 404 where the path names
    an item; ``If-Match`` where 428 is documented; and a problem body on every error
    response a blueprint documented without one.
    """

    def __init__(self, *, secured: bool) -> None:
        self.secured = secured

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **_: Any) -> None:
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if str(status).isdigit() and int(status) >= 400 and isinstance(response, dict):
                    response.setdefault("content", {PROBLEM_CONTENT_TYPE: {"schema": "Problem"}})
            responses.setdefault(400, "BAD_REQUEST")
            if "requestBody" in operation:
                responses.setdefault(415, "UNSUPPORTED_MEDIA_TYPE")
            if self.secured and operation.get("security") != []:
                responses.setdefault(401, "UNAUTHORIZED")
                if method in ("post", "put", "patch", "delete"):
                    responses.setdefault(403, "FORBIDDEN")
            if path and "{" in path:
                responses.setdefault(404, "NOT_FOUND")
            if 428 in responses or "428" in responses:
                operation.setdefault("parameters", []).append(dict(IF_MATCH_PARAMETER))


class ProblemApi(Api):
    """flask-smorest's ``Api`` whose error responses are problem documents, also in its docs."""

    ERROR_SCHEMA = ProblemSchema

    def _init_spec(self, **kwargs: Any) -> None:
        secured = bool(self.config.get("API_SPEC_OPTIONS", {}).get("security"))
        kwargs["extra_plugins"] = [*(kwargs.get("extra_plugins") or ()),
                                   ProblemResponses(secured=secured)]
        super()._init_spec(**kwargs)

    def _register_responses(self) -> None:
        self.spec.components.schema("Problem", schema=ProblemSchema)
        for status in HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": "Problem"}}
            self.spec.components.response(status.name, response, lazy=True)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, {
            "description": "Any other error",
            "content": {PROBLEM_CONTENT_TYPE: {"schema": "Problem"}}}, lazy=True)

    def _register_pagination_header(self) -> None:
        # The header carries JSON, which OpenAPI 3 describes with ``content``, not ``schema``.
        self.spec.components.header("PAGINATION", {
            "description": "Pagination metadata (JSON)",
            "content": {"application/json": {"schema": PaginationMetadataSchema}},
        }, lazy=True)

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


DATABASE_RETRY_AFTER_SECONDS = 2


def handle_unexpected(error: Exception) -> Response:
    if _database_unavailable(error):
        # The database is away or every pooled connection is busy: the request changed
        # nothing, and the same request may pass in a moment.
        HANDLED_ERRORS.labels(_service(), "database_unavailable").inc()
        log.warning("database unavailable: %s: %s", type(error).__name__, error)
        response = problem(503, "The database cannot be reached now; try again shortly.")
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    log.exception("unhandled error")
    return problem(500, "An unexpected error occurred; it has been logged.")


def _database_unavailable(error: Exception) -> bool:
    if isinstance(error, PoolTimeout | OperationalError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _service() -> str:
    return current_app.name if has_app_context() else "unknown"
