"""The CSV helper every list route uses: negotiation, RFC 4180 records, neutralised formulas."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import fields

from shared.web.csv_export import (
    BATCH_ROWS,
    FORMULA_STARTS,
    cell,
    csv_response,
    encode_rows,
    neutralised,
    restored,
    wants_csv,
)
from shared.web.shell import create_service_app

#: Text that starts like a formula more often than chance would: the OWASP starts, the
#: apostrophe, classic payloads, then anything (line breaks, quotes, commas, non-BMP).
hostile_cell = st.one_of(
    st.builds(lambda start, rest: start + rest,
              st.sampled_from([*FORMULA_STARTS, "'", "\n", '"', ",", " =", "\ufeff"]),
              st.text()),
    st.sampled_from(["=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "+1+1", "-2+3",
                     "=HYPERLINK(\"http://x\",\"y\")", "'", "''=1", "\r\n", "a\r\nb", '"']),
    st.text(),
)


@settings(max_examples=50)
@given(st.lists(st.lists(hostile_cell, min_size=1, max_size=6), min_size=1, max_size=8))
def test_text_cells_parse_back_exactly_and_none_starts_like_a_formula(
        rows: list[list[str]]) -> None:
    # the surrogates st.text() may draw cannot be UTF-8: the services never store them
    rows = [[value.encode("utf-8", "replace").decode("utf-8") for value in row] for row in rows]
    data = encode_rows([[neutralised(value) for value in row] for row in rows])

    assert data.endswith(b"\r\n")
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert [[restored(value) for value in row] for row in parsed] == rows
    for row in parsed:
        for value in row:
            assert not value.startswith(FORMULA_STARTS), value


def test_records_end_with_crlf_and_quote_what_needs_it() -> None:
    data = encode_rows([["a", "b,c", 'say "hi"', "two\nlines"], ["", "x", "y", "z"]])
    assert data == b'a,"b,c","say ""hi""","two\nlines"\r\n,x,y,z\r\n'


def test_cells_write_numbers_unformatted_times_in_utc_and_null_as_empty() -> None:
    assert cell(fields.Float(), -1234567.5) == "-1234567.5"  # numbers are never neutralised
    assert cell(fields.Float(), 1e-07) == "1e-07"
    assert cell(fields.Integer(), 12) == "12"
    assert cell(fields.Boolean(), False) == "false"
    assert cell(fields.String(), None) == ""
    paris = timezone(timedelta(hours=1))
    assert cell(fields.DateTime(), datetime(2026, 11, 29, 6, 30, tzinfo=paris).isoformat()) \
        == "2026-11-29T05:30:00Z"
    assert cell(fields.DateTime(), "2026-11-29T05:30:00.250000") == "2026-11-29T05:30:00.250000Z"
    assert cell(fields.List(fields.String()), ["marketing", "sales"]) == "marketing+sales"
    assert cell(fields.Raw(), {"title": "=1+1", "n": 1}) == '{"title":"=1+1","n":1}'
    assert cell(fields.String(), "-5") == "'-5"  # text that looks like a number is text
    assert datetime.fromisoformat(cell(fields.DateTime(), datetime(2026, 1, 1, tzinfo=UTC))) \
        == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def negotiating_app() -> Flask:
    app, _ = create_service_app("csv-test", title="t", description="d", readiness_checks={})

    @app.get("/v1/things")
    def things() -> str:
        return "csv" if wants_csv() else "json"

    return app


@pytest.mark.parametrize(("accept", "answer"), [
    (None, "json"), ("", "json"), ("*/*", "json"), ("application/json", "json"),
    ("application/*", "json"), ("text/csv", "csv"), ("text/*", "csv"),
    ("text/csv; charset=utf-8", "csv"), ("TEXT/CSV;header=present", "csv"),
    ("text/csv, application/json", "json"),  # a tie: JSON stays the default
    ("application/json;q=0.5, text/csv", "csv"),
    ("text/csv;q=0.9, application/json;q=0.8", "csv"),
    ("text/csv;q=0.5, application/json", "json"),
    ("*/*;q=0.1, text/csv", "csv"), ("text/csv;q=0, */*", "json"),
    ("application/xml", 406), ("text/csv;q=0", 406), ("application/json;q=0, text/html", 406),
    ("image/png, text/plain", 406),
])
def test_the_client_gets_the_type_it_prefers_and_406_when_none_is_acceptable(
        negotiating_app: Flask, accept: str | None, answer: str | int) -> None:
    headers = {} if accept is None else {"Accept": accept}
    response = negotiating_app.test_client().get("/v1/things", headers=headers)
    assert "Accept" in response.vary
    if answer == 406:
        assert response.status_code == 406
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["type"] == "/problems/not-acceptable"
    else:
        assert response.status_code == 200
        assert response.get_data(as_text=True) == answer


def test_rows_added_ahead_of_a_stream_are_never_sent_twice_however_many() -> None:
    """More rows than a batch arrive at the head of the list between two batches: every
    row already sent is left out of every later batch."""
    from types import SimpleNamespace

    from marshmallow import Schema

    class Item(Schema):
        id = fields.String()

    rows = [{"id": f"old{i}"} for i in range(3 * BATCH_ROWS)]  # newest first
    calls = 0

    def fetch(offset: int, limit: int) -> tuple[list[dict[str, str]], int]:
        nonlocal calls, rows
        calls += 1
        if calls == 2:  # more than a batch committed while the first batch is sent
            rows = [{"id": f"new{i}"} for i in range(BATCH_ROWS + 100)] + rows
        return rows[offset:offset + limit], len(rows)

    app = Flask(__name__)
    with app.test_request_context("/items"):
        pagination = SimpleNamespace(page=1, page_size=10, first_item=0, item_count=None)
        response = csv_response(Item(), fetch, pagination, "items")
        body = b"".join(response.response).decode()
    ids = body.split("\r\n")[1:-1]
    assert len(ids) == len(set(ids))
    assert {f"old{i}" for i in range(3 * BATCH_ROWS)} <= set(ids)
