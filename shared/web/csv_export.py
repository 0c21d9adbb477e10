"""Lists as spreadsheets: ``Accept: text/csv`` on a list route answers its rows as CSV.

One helper for every service (docs/api.md, "CSV exports"). A list route asks
:func:`wants_csv` which representation the client prefers and, for CSV, returns
:func:`csv_response` with the same response schema, the same filters and the same
authorisation as its JSON; only the representation changes.

- **Negotiation.** ``Accept`` is weighed with its q-values; JSON stays the default (no
  ``Accept``, ``*/*``, or a tie); an ``Accept`` that neither satisfies is a 406 problem.
  Both answers carry ``Vary: Accept``.
- **Columns** are the response schema's fields in their order, named as in the JSON, so a
  field added to the JSON appears in the CSV too. Numbers are written unformatted (Python's
  shortest round-trip form), booleans ``true``/``false``, times in ISO 8601 UTC ending in
  ``Z``, a list of keys joined with ``+`` (department keys hold no ``+``), objects as
  compact JSON text, null as an empty cell.
- **RFC 4180**: a header row, CRLF after every record, fields quoted when they hold a
  comma, a quote or a line break, quotes doubled; UTF-8 without a byte-order mark (the
  consumers are scripts and BI tools, for which a BOM corrupts the first column's name;
  Excel reads UTF-8 through Data > From Text/CSV).
- **Formula injection** (OWASP, "CSV Injection"): a text cell starting with ``=``, ``+``,
  ``-``, ``@``, tab or carriage return would be run as a formula by a spreadsheet, so it
  gets a leading apostrophe; so does one that starts with an apostrophe itself, which makes
  the rule reversible: drop one leading apostrophe from a text cell to get the stored text.
  Numeric cells are written by the service and never neutralised.
- **Pagination.** Without ``page`` or ``page_size`` the answer is the whole filtered set,
  streamed: read in batches of :data:`BATCH_ROWS` rows, each written out before the next is
  read, so memory stays bounded whatever the set's size; a spreadsheet wants the whole list
  in one file; rows added ahead of the stream meanwhile are not sent twice (see
  :func:`csv_response`). ``X-Pagination`` then describes one page holding everything.
  With ``page`` or ``page_size`` the CSV is that page, as in JSON. The first batch is read
  before the status is sent, so a refusal or an unreachable database is still a problem
  document.
- **A stream cut by a failure** (the database lost after the first batch) never looks like
  a whole file: the body then ends with :data:`CUT_MARKER` (a last line that opens a quoted
  field it never closes, naming the failure, with no CRLF: a strict RFC 4180 reader fails
  on it, a lenient one shows it as a last row, and a complete export always ends with CRLF)
  and the response is aborted: the WSGI server closes the connection without the final
  chunk, which HTTP/1.1 clients report as an error (``requests``: ``ChunkedEncodingError``;
  curl: exit 18). An HTTP/1.0 answer has no chunks, so there the marker is the only sign.
- **Bounded streams.** A whole-set stream holds a server thread for as long as its client
  takes to read it, so at most :attr:`CsvExportLimits.streams` of them run at once in one
  process (``OKR_CSV_EXPORT_STREAMS``, 2 of gunicorn's 4 threads by default); one more is
  answered 503 (problem, ``Retry-After``) before anything is read. A page (``page`` or
  ``page_size``) is bounded by its size and is never refused so. The slot is taken before
  the first batch is read and given back when the server closes the response: at its end,
  when the client goes away, or when the server gives up writing to a client that stopped
  reading (``OKR_HTTP_BODY_TIMEOUT_SECONDS``), or as soon as the stream has run to its
  end. A WSGI caller that stops reading must close the response (servers do; with
  Flask's test client, ``response.close()``).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, after_this_request, current_app, request, stream_with_context
from marshmallow import Schema, fields
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import abort

from shared.config import ConfigurationError, env_int
from shared.web.problems import abort_with_problem, problem

log = logging.getLogger(__name__)

JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8; header=present"
#: Rows read per query while streaming a whole set.
BATCH_ROWS = 500
#: What a spreadsheet would evaluate at the start of a cell (OWASP), and the apostrophe
#: that neutralises it (prefixed to itself too, so that the rule is reversible).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISER = "'"
#: The end of a body whose stream failed after it began: an unclosed quoted field, no CRLF.
CUT_MARKER = '"export cut short by an error after {rows} rows: this file is incomplete'
EXTENSION = "okr.csv_exports"


@dataclass(frozen=True)
class CsvExportLimits:
    """How many whole-set CSV streams one process serves at once, and how long a refused
    client is told to wait."""

    streams: int = 2
    retry_after_seconds: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CsvExportLimits:
        streams = env_int("OKR_CSV_EXPORT_STREAMS", cls.streams, environ)
        if streams < 1:
            raise ConfigurationError(f"OKR_CSV_EXPORT_STREAMS must be at least 1, got {streams}")
        return cls(streams=streams)


class ExportSlots:
    """The whole-set streams a process may serve at once: a slot is taken without waiting
    (none free: the request is refused) and given back once, when the response closes."""

    def __init__(self, limits: CsvExportLimits) -> None:
        self.limits = limits
        self._free = threading.BoundedSemaphore(limits.streams)
        self._lock = threading.Lock()
        self._taken = 0

    def take(self) -> Callable[[], None] | None:
        """A slot's release (idempotent), or None when every slot is taken."""
        if not self._free.acquire(blocking=False):
            return None
        with self._lock:
            self._taken += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if released.is_set():
                    return
                released.set()
                self._taken -= 1
            self._free.release()

        return release

    @property
    def taken(self) -> int:
        """How many streams run now."""
        with self._lock:
            return self._taken


_default_slots: ExportSlots | None = None
_default_lock = threading.Lock()


def install_csv_exports(app: Flask, limits: CsvExportLimits | None = None) -> ExportSlots:
    """Give ``app`` (one per process) its slots for whole-set streams."""
    slots = ExportSlots(limits or CsvExportLimits.from_env())
    app.extensions[EXTENSION] = slots
    return slots


def export_slots() -> ExportSlots:
    """The current app's slots (an app made without :func:`install_csv_exports` shares one
    set per process, read from the environment)."""
    global _default_slots
    slots: ExportSlots | None = current_app.extensions.get(EXTENSION)
    if slots is not None:
        return slots
    with _default_lock:
        if _default_slots is None:
            _default_slots = ExportSlots(CsvExportLimits.from_env())
        return _default_slots

Fetch = Callable[[int, int], tuple[Sequence[Any], int]]
"""``fetch(offset, limit)``: the rows of the filtered list from ``offset``, at most ``limit``
of them, in the JSON's order, and how many rows the whole filtered list has."""


def wants_csv() -> bool:
    """True when the client prefers CSV to JSON; 406 when it accepts neither."""
    after_this_request(_vary_on_accept)
    if not request.headers.get("Accept", "").strip():
        return False
    # Media type parameters (charset, header) do not change what is offered; q-values do.
    accepted = MIMEAccept([(value.split(";", 1)[0].strip().lower(), quality)
                           for value, quality in request.accept_mimetypes])
    best = accepted.best_match([JSON_MEDIA_TYPE, CSV_MEDIA_TYPE])
    if best is None:
        abort_with_problem(406, f"This route answers {JSON_MEDIA_TYPE} or {CSV_MEDIA_TYPE}; "
                                "the Accept header allows neither.")
    return best == CSV_MEDIA_TYPE


def _vary_on_accept(response: Response) -> Response:
    response.vary.add("Accept")
    return response


def csv_response(schema: Schema, fetch: Fetch, pagination: Any, name: str,
                 key: str = "id") -> Response:
    """The list as CSV: the page asked for, or the whole filtered set streamed in batches.

    ``schema`` is the route's response schema (one item), ``pagination`` flask-smorest's
    pagination parameters (their ``item_count`` is set here), ``name`` the file's stem,
    ``key`` the dumped field that identifies an item. Rows added ahead of the stream while
    it runs (a new audit entry, a new check-in, newest first) push the rows already sent
    into later batches: a batch leaves out every item already sent (the keys sent are kept
    for the stream's life, some tens of bytes a row).
    """
    columns = csv_columns(schema)
    paged = "page" in request.args or "page_size" in request.args
    limit = pagination.page_size if paged else BATCH_ROWS
    release: Callable[[], None] | None = None
    if not paged:
        slots = export_slots()
        release = slots.take()
        if release is None:
            log.warning("CSV export %s refused: %d whole-set streams run already", name,
                        slots.limits.streams)
            refused = problem(503, f"This process already streams {slots.limits.streams} "
                                   "whole-list CSV exports, as many as it may at once "
                                   "(OKR_CSV_EXPORT_STREAMS); try again after Retry-After "
                                   "seconds, or ask for one page (page, page_size).")
            refused.headers["Retry-After"] = str(slots.limits.retry_after_seconds)
            abort(refused)  # raised, not returned: the route's pagination is left alone
    try:
        first, total = fetch(pagination.first_item if paged else 0, limit)
    except BaseException:
        if release is not None:
            release()
        raise
    pagination.item_count = total
    if not paged:  # one page holding everything, and no Link to other pages
        pagination.page, pagination.page_size = 1, max(total, 1)
        pagination.whole_set = True

    def rows() -> Iterator[bytes]:
        try:
            yield from _rows()
        finally:  # its end, its failure, or its close(): the slot is free again
            if release is not None:
                release()

    def _rows() -> Iterator[bytes]:
        yield encode_rows([[name for name, _ in columns]])
        batch, offset, sent = first, 0, set[Any]()
        while True:
            try:
                dumped = [schema.dump(item) for item in batch]
                fresh = [item for item in dumped if item.get(key) not in sent]
                chunk = encode_rows(csv_row(columns, item) for item in fresh)
            except Exception:
                yield _cut(name, len(sent))
                raise
            yield chunk
            sent.update(item.get(key) for item in fresh)  # every key sent: rows added
            # ahead of the stream push any number of sent rows into later batches
            offset += len(batch)
            if paged or len(batch) < BATCH_ROWS:
                return
            try:
                batch, _ = fetch(offset, BATCH_ROWS)
            except Exception:
                yield _cut(name, len(sent))
                raise
            if not batch:
                return

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = Response(stream_with_context(rows()), content_type=CSV_CONTENT_TYPE)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{safe_filename(name)}-{stamp}.csv"')
    if release is not None:
        response.call_on_close(release)
    return response


def _cut(name: str, rows: int) -> bytes:
    """The end of a body whose stream failed: :data:`CUT_MARKER` (the caller then raises, so
    the server aborts the response without its final chunk)."""
    log.exception("CSV export %s cut after %d rows", name, rows)
    return CUT_MARKER.format(rows=rows).encode("utf-8")


Column = tuple[str, fields.Field]


def csv_columns(schema: Schema) -> list[Column]:
    """The columns of ``schema``'s items: its dumped fields, named and ordered as in JSON."""
    return [(field.data_key or name, field) for name, field in schema.dump_fields.items()]


def csv_row(columns: list[Column], dumped: dict[str, Any]) -> list[str]:
    return [cell(field, dumped.get(name)) for name, field in columns]


def cell(field: fields.Field, value: Any) -> str:
    """One value, as ``field`` dumped it, as the text of a CSV cell."""
    if value is None:
        return ""
    if isinstance(field, fields.Boolean) or isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(field, fields.Integer):
        return str(int(value))
    if isinstance(field, fields.Number):
        return repr(float(value))
    if isinstance(field, fields.DateTime):
        return utc_timestamp(value)
    if isinstance(field, fields.List) and all(isinstance(item, str) for item in value):
        return neutralised("+".join(value))
    if isinstance(value, str):
        return neutralised(value)
    return neutralised(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def utc_timestamp(value: datetime | str) -> str:
    """ISO 8601 in UTC with a ``Z``; a time without an offset is taken as UTC (as stored)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def neutralised(text: str) -> str:
    """``text`` that no spreadsheet evaluates: a leading apostrophe before a formula start."""
    return NEUTRALISER + text if text.startswith((*FORMULA_STARTS, NEUTRALISER)) else text


def restored(text: str) -> str:
    """The stored text of a neutralised text cell (the inverse of :func:`neutralised`)."""
    return text[1:] if text.startswith(NEUTRALISER) else text


def encode_rows(rows: Any) -> bytes:
    """Rows as RFC 4180 records (CRLF, quoting where needed), in UTF-8."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, dialect="excel", lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "export"


def csv_doc(description: str) -> dict[str, Any]:
    """The OpenAPI of a list route's CSV answer, for ``Blueprint.doc(**csv_doc(...))``.

    Status codes are integers, as flask-smorest's own: its deep merge then adds ``text/csv``
    beside the JSON content (a string key would stand beside the integer and replace it).
    """
    return {
        "responses": {
            200: {"content": {CSV_MEDIA_TYPE: {"schema": {
                "type": "string",
                "description": "with `Accept: text/csv`: " + description + " A header row, "
                "then one record per item with the JSON's fields as columns (RFC 4180, "
                "UTF-8); without `page` and `page_size`, every item of the filtered list. "
                "Text starting with = + - @ tab CR or ' gets a leading '. See docs/api.md, "
                "CSV exports."}}}},
            406: {"description": "the Accept header allows neither application/json nor "
                                   "text/csv"},
            503: {"description": "with `Accept: text/csv` and neither `page` nor "
                                   "`page_size`: the process already streams "
                                   "OKR_CSV_EXPORT_STREAMS whole lists; try again after "
                                   "Retry-After seconds, or ask for a page"},
        },
    }
