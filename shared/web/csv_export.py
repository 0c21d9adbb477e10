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
  document; a failure later cuts the stream without its final chunk, which HTTP clients
  report as an error.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Response, after_this_request, request, stream_with_context
from marshmallow import Schema, fields
from werkzeug.datastructures import MIMEAccept

from shared.web.problems import abort_with_problem

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
    first, total = fetch(pagination.first_item if paged else 0, limit)
    pagination.item_count = total
    if not paged:  # one page holding everything, and no Link to other pages
        pagination.page, pagination.page_size = 1, max(total, 1)
        pagination.whole_set = True

    def rows() -> Iterator[bytes]:
        yield encode_rows([[name for name, _ in columns]])
        batch, offset, sent = first, 0, set[Any]()
        while True:
            dumped = [schema.dump(item) for item in batch]
            fresh = [item for item in dumped if item.get(key) not in sent]
            yield encode_rows(csv_row(columns, item) for item in fresh)
            sent.update(item.get(key) for item in fresh)  # every key sent: rows added
            # ahead of the stream push any number of sent rows into later batches
            offset += len(batch)
            if paged or len(batch) < BATCH_ROWS:
                return
            try:
                batch, _ = fetch(offset, BATCH_ROWS)
            except Exception:
                log.exception("CSV export %s cut after %d rows", name, offset)
                raise
            if not batch:
                return

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = Response(stream_with_context(rows()), content_type=CSV_CONTENT_TYPE)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{safe_filename(name)}-{stamp}.csv"')
    return response


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
        },
    }
