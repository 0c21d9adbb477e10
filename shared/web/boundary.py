"""The input boundary: every request is classified here before any handler of any service runs.

``install_input_boundary`` (called once by the app shell) refuses, as problem documents and
before authentication or any view, so that nothing is stored:

=====  ==================================================================================
413    a body longer than ``max_body_bytes`` (1 MiB; ``OKR_HTTP_MAX_BODY_BYTES``)
408    a body that does not arrive in time (the socket's read deadline, see ``http_worker``)
414    a URL (path and query) longer than ``max_url_bytes`` (8 KiB)
400    a URL holding control characters (NUL, newline...); a JSON body that is not JSON as
       RFC 8259 defines it: not UTF-8, malformed, ``NaN`` / ``Infinity`` literals; no body
       at all where the operation needs one
415    a body sent to an operation that reads JSON without ``Content-Type:
       application/json`` (or ``application/*+json``), or with a charset other than UTF-8
400    ``If-Match`` / ``If-None-Match`` that is not ``*`` or a list of quoted ASCII entity
       tags; ``Idempotency-Key`` that is not 1 to 200 printable ASCII characters;
       ``Authorization`` that is not printable ASCII of at most 4 KiB
431    any header value over 8 KiB
422    JSON that parses but no service stores: not an object where the operation reads
       one, nested deeper than ``max_depth`` (32),
       integers beyond +-(2**63 - 1), numbers beyond a double (``1e400``), text (keys
       included) holding lone surrogates, NUL or other control characters (C0 and C1)
       other than tab, line feed and carriage return; ``errors`` names the member
=====  ==================================================================================

Which text a field accepts beyond that (``single_line`` names refuse line breaks too) and
which dates (``within_calendar``: ``EARLIEST_DATE`` to ``LATEST_DATE``) are the schemas'
business, with the validators at the end of this module. Which operations read a JSON
body is what their schemas declare (``operations.py``). The module also owns the app's
JSON provider: it reads bodies with these rules, writes every date and time in ISO 8601
UTC (``dates.py``; never Flask's RFC 1123 dates) and refuses to write ``NaN`` or
``Infinity`` (a logged, counted error, never invalid JSON).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Flask, Request, Response, current_app, has_app_context, request
from flask.json.provider import DefaultJSONProvider
from gunicorn.http.errors import NoMoreData, ParseException
from marshmallow import ValidationError
from werkzeug.exceptions import ClientDisconnected

from shared.config import env_int
from shared.observability.metrics import HANDLED_ERRORS
from shared.web.dates import day, moment
from shared.web.operations import current_operation
from shared.web.problems import problem

log = logging.getLogger(__name__)

#: Dates every service accepts (cycles, ``active_on``): far enough from both ends of the
#: calendar that a date plus a cycle's length or a time zone still is a date.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2999, 12, 31)

MAX_INTEGER = 2**63 - 1

#: Characters no text of any service holds: C0 controls but tab, LF and CR; DEL; C1
#: controls; lone surrogates (not Unicode scalar values: UTF-8 and PostgreSQL refuse them).
FORBIDDEN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: What a single-line value (a name, a title, a key) refuses on top: any control character.
FORBIDDEN_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_FORBIDDEN_IN_URL = re.compile("[\x00-\x1f\x7f-\x9f]")
_ENTITY_TAGS = re.compile(r'\s*(\*|(W/)?"[\x21\x23-\x7e]*"(\s*,\s*(W/)?"[\x21\x23-\x7e]*")*)\s*')
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


@dataclass(frozen=True)
class InputLimits:
    max_body_bytes: int = 1024 * 1024
    max_depth: int = 32
    max_url_bytes: int = 8 * 1024
    max_header_bytes: int = 8 * 1024
    max_authorization_bytes: int = 4 * 1024
    max_idempotency_key: int = 200

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InputLimits:
        return cls(max_body_bytes=env_int("OKR_HTTP_MAX_BODY_BYTES", cls.max_body_bytes,
                                          environ),
                   max_depth=env_int("OKR_HTTP_MAX_JSON_DEPTH", cls.max_depth, environ))


class Refused(ValueError):
    """Input the boundary refuses: its status, what is wrong, and where (a JSON path)."""

    def __init__(self, status: int, detail: str, path: tuple[str | int, ...] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.path = status, detail, path
        self.headers = headers or {}

    def response(self) -> Response:
        if self.path is None:
            response = problem(self.status, self.detail)
        else:
            errors: Any = [self.detail]
            for step in reversed(self.path or ("_body",)):
                errors = {str(step): errors}
            response = problem(self.status, f"The JSON body was refused: {self.detail}.",
                               errors=errors)
        response.headers.update(self.headers)
        return response


# -- reading JSON -------------------------------------------------------------------------

def _integer(literal: str) -> int:
    # Python refuses to convert more than 4,300 digits (ValueError): the length goes first.
    if len(literal.lstrip("-")) > 19 or abs(value := int(literal)) > MAX_INTEGER:
        raise Refused(422, f"integers must lie within +-{MAX_INTEGER}")
    return value


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise Refused(422, "numbers must be finite (a double's range)")
    return value


def _not_json(literal: str) -> Any:
    raise Refused(400, f"{literal} is not JSON (RFC 8259 has no NaN or Infinity)")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose member names are unique: RFC 8259 leaves an object with a name twice
    to each parser (the first or the last may win), so a proxy, a log or another service
    could read another request than the one applied."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise Refused(400, f"The body is not valid JSON for this API: the member name "
                                   f"{name[:64]!r} appears twice in one object.")
            seen.add(name)
    return document


def read_json(data: bytes | str, max_depth: int) -> Any:
    """Parse a body as RFC 8259 JSON within the limits above; :class:`Refused` otherwise."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise Refused(400, "The JSON body is not UTF-8.") from None
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_finite,
                           parse_constant=_not_json, object_pairs_hook=_object)
    except RecursionError:
        raise Refused(422, f"nested deeper than {max_depth} levels", ()) from None
    except Refused as refused:
        raise Refused(refused.status, refused.detail, () if refused.status == 422 else None)\
            from None
    except ValueError as error:
        raise Refused(400, f"The body is not valid JSON: {error}") from None
    _check_tree(value, max_depth)
    return value


def _check_tree(value: Any, max_depth: int) -> None:
    """Depth, and text that nothing stores, anywhere in a parsed document (keys too)."""
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            if FORBIDDEN_TEXT.search(item):
                raise Refused(422, "text must not hold control characters (other than tab and "
                                   "line breaks), NUL or lone surrogates", path)
            continue
        if not isinstance(item, dict | list):
            continue
        if len(path) >= max_depth:
            raise Refused(422, f"nested deeper than {max_depth} levels", path)
        if isinstance(item, list):
            pending.extend((element, (*path, index)) for index, element in enumerate(item))
            continue
        for key, element in item.items():
            if FORBIDDEN_TEXT.search(key):
                raise Refused(422, "member names must not hold control characters, NUL or "
                                   "lone surrogates", path)
            pending.append((element, (*path, key)))


class BoundaryJSONProvider(DefaultJSONProvider):
    """Flask's JSON, read with the boundary's rules and never written with NaN or Infinity."""

    def __init__(self, app: Flask, limits: InputLimits) -> None:
        super().__init__(app)
        self.limits = limits

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return read_json(s, self.limits.max_depth)

    @staticmethod
    def default(o: Any) -> Any:
        """What JSON has no type for: times and days in ISO 8601 (``dates.py``), else Flask's."""
        if isinstance(o, datetime):
            return moment(o)
        if isinstance(o, date):
            return day(o)
        return DefaultJSONProvider.default(o)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("allow_nan", False)
        try:
            return super().dumps(obj, **kwargs)
        except ValueError as error:
            if "Out of range float" in str(error):  # json's words for NaN and +-Infinity
                service = current_app.name if has_app_context() else "unknown"
                HANDLED_ERRORS.labels(service, "non_finite_json").inc()
                log.error("refused to write NaN or Infinity into a JSON response: %s", error)
            raise


class BoundaryRequest(Request):
    """A request whose JSON failures answer as the boundary says (not a bare 400)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if isinstance(e, Refused):
            raise e
        return super().on_json_loading_failed(e)


# -- the hook ------------------------------------------------------------------------------

def install_input_boundary(app: Flask, limits: InputLimits) -> None:
    """Make ``app`` classify every request first (its first ``before_request``)."""
    app.json = BoundaryJSONProvider(app, limits)
    app.request_class = BoundaryRequest
    app.config["MAX_CONTENT_LENGTH"] = limits.max_body_bytes
    app.register_error_handler(Refused, lambda refused: refused.response())

    @app.before_request
    def _classify_input() -> Response | None:
        try:
            _check_url(limits)
            _check_headers(limits)
            _check_body(limits)
        except Refused as refused:
            return refused.response()
        return None


def _check_url(limits: InputLimits) -> None:
    query = request.query_string
    if len(request.path.encode()) + len(query) > limits.max_url_bytes:
        raise Refused(414, f"The URL is longer than {limits.max_url_bytes} bytes.")
    if _FORBIDDEN_IN_URL.search(request.path) or any(
            _FORBIDDEN_IN_URL.search(key) or _FORBIDDEN_IN_URL.search(value)
            for key, value in request.args.items(multi=True)):
        raise Refused(400, "The URL must not contain control characters (such as %00 or %0A).")


def _check_headers(limits: InputLimits) -> None:
    for name, value in request.headers.items():
        if len(value) > limits.max_header_bytes:
            raise Refused(431, f"The {name} header is longer than {limits.max_header_bytes} "
                               "bytes.")
    for name in ("If-Match", "If-None-Match"):
        tags = request.headers.get(name)
        if tags is not None and not _ENTITY_TAGS.fullmatch(tags):
            raise Refused(400, f"{name} must be '*' or entity tags in double quotes, e.g. "
                               '"3" (printable ASCII).')
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (_PRINTABLE_ASCII.fullmatch(key)
                                and 1 <= len(key.strip()) <= limits.max_idempotency_key):
        raise Refused(400, f"Idempotency-Key must be 1 to {limits.max_idempotency_key} "
                           "printable ASCII characters.")
    if key is not None and "," in key:  # a header sent twice arrives joined by commas
        raise Refused(400, "Idempotency-Key must be one key without commas (was the header "
                           "sent twice?).")
    authorization = request.headers.get("Authorization")
    if authorization is not None and not (_PRINTABLE_ASCII.fullmatch(authorization)
                                          and len(authorization)
                                          <= limits.max_authorization_bytes):
        raise Refused(400, "Authorization must be printable ASCII of at most "
                           f"{limits.max_authorization_bytes} bytes.")


def _check_body(limits: InputLimits) -> None:
    length = request.content_length
    if length is not None and length > limits.max_body_bytes:
        raise Refused(413, f"The body is longer than {limits.max_body_bytes} bytes.")
    operation = current_operation()
    reads_json = operation is not None and operation.json_body
    if length == 0 or (length is None and "chunked" not in
                       request.headers.get("Transfer-Encoding", "").lower()):
        if operation is not None and operation.body_required:
            raise Refused(400, "This operation needs a JSON body (a JSON object sent with "
                               "Content-Type: application/json); the request has none.")
        return
    if reads_json:
        _check_media_type()
    try:
        data = request.get_data(cache=True)
    except ClientDisconnected as disconnected:  # werkzeug's name for any failed read
        if isinstance(disconnected.__context__, TimeoutError):
            raise Refused(408, "The body did not arrive in time.") from None
        raise
    except (ParseException, NoMoreData) as error:  # gunicorn reads the body as it is asked
        raise Refused(400, "The body is not valid HTTP/1.1 framing (chunk sizes, chunk "
                           f"terminators): {type(error).__name__}.") from None
    if not data:
        if operation is not None and operation.body_required:
            raise Refused(400, "The body is empty; this operation needs a JSON object.")
        return
    if request.is_json:
        value = request.get_json()  # parsed once, by the provider above, and cached
        if reads_json and not isinstance(value, dict):
            raise Refused(422, f"must be a JSON object ({{...}}), not {_json_kind(value)}", ())


def _check_media_type() -> None:
    """A body for an operation that reads JSON must say it is JSON, in UTF-8."""
    accept = {f"Accept-{request.method.title()}": "application/json"} \
        if request.method in ("POST", "PATCH") else {}
    if not request.is_json:
        given = request.headers.get("Content-Type")
        said = f"Content-Type {given!r}" if given else "no Content-Type"
        raise Refused(415, f"The body must be JSON sent with Content-Type: application/json; "
                           f"the request has {said}.", headers=accept)
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise Refused(415, f"JSON is UTF-8 (RFC 8259); the request says charset={charset!r}.",
                      headers=accept)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def within_calendar(value: date) -> None:
    """A marshmallow validator: ``value`` lies within ``EARLIEST_DATE``..``LATEST_DATE``."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValidationError(f"must lie within {EARLIEST_DATE} and {LATEST_DATE}")


def single_line(value: str) -> None:
    """A marshmallow validator for names, titles and keys: no control character at all."""
    if FORBIDDEN_IN_LINE.search(value):
        raise ValidationError("must not contain control characters")


def multi_line(value: str) -> None:
    """A marshmallow validator for notes and descriptions: line breaks and tabs allowed."""
    if FORBIDDEN_TEXT.search(value):
        raise ValidationError("must not contain control characters other than line breaks "
                              "and tabs")
