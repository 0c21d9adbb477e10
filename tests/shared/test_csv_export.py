"""The CSV helper every list route uses: negotiation, RFC 4180 records, neutralised formulas."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import requests
from flask import Flask, Response
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields

from shared.config import ConfigurationError
from shared.web.csv_export import (
    BATCH_ROWS,
    CUT_MARKER,
    FORMULA_STARTS,
    CsvExportLimits,
    ExportSlots,
    cell,
    csv_response,
    encode_rows,
    neutralised,
    restored,
    wants_csv,
)
from shared.web.shell import create_service_app
from tests.support.csv_export_app import Item, export_app
from tests.support.live_apis import served

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


# -- bounded streams and cut streams, over real HTTP ---------------------------------------

def _export_app(streams: int, fail_at: int | None = None) -> tuple[Flask, ExportSlots]:
    return export_app(CsvExportLimits(streams=streams, retry_after_seconds=7), fail_at)


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_slow_readers_hold_at_most_the_limit_and_the_next_gets_503_until_one_leaves() -> None:
    app, slots = _export_app(streams=2)
    with served(app) as url:
        whole = f"{url}/v1/items"
        readers = [requests.get(whole, headers={"Accept": "text/csv"}, stream=True, timeout=30)
                   for _ in range(2)]
        # they read the header row, then stop reading (their iterators kept: one dropped
        # would close its connection)
        reading = [reader.iter_content(chunk_size=64) for reader in readers]
        for reader, chunks in zip(readers, reading, strict=True):
            assert reader.status_code == 200
            assert next(chunks).startswith(b"id,note\r\n")
        assert slots.taken == 2

        with requests.get(whole, headers={"Accept": "text/csv"}, stream=True,
                          timeout=30) as refused:
            assert refused.status_code == 503
            assert refused.headers["Content-Type"] == "application/problem+json"
            assert refused.headers["Retry-After"] == "7"
            assert refused.json()["type"] == "/problems/service-unavailable"
            assert "OKR_CSV_EXPORT_STREAMS" in refused.json()["detail"]
        page = requests.get(whole + "?page=2&page_size=5", headers={"Accept": "text/csv"},
                            timeout=30)  # a page is bounded by its size: never refused so
        assert page.status_code == 200
        assert page.text.split("\r\n")[1].startswith("5,")

        readers[0].close()  # one slow reader goes away: its slot is given back
        _wait_until(lambda: slots.taken == 1, "the closed stream's slot was not given back")
        with requests.get(whole, headers={"Accept": "text/csv"}, stream=True,
                          timeout=30) as another:
            assert another.status_code == 200
        readers[1].close()
        _wait_until(lambda: slots.taken == 0, "a slot was never given back")


def test_a_stream_cut_by_a_failure_is_an_error_and_no_valid_csv() -> None:
    app, slots = _export_app(streams=2, fail_at=2 * BATCH_ROWS)
    with served(app) as url:
        received = bytearray()
        with requests.get(f"{url}/v1/items", headers={"Accept": "text/csv"}, stream=True,
                          timeout=30) as response:
            assert response.status_code == 200
            with pytest.raises(requests.exceptions.ChunkedEncodingError):
                for chunk in response.iter_content(chunk_size=None):
                    received += chunk
    text = received.decode("utf-8")
    assert text.endswith(CUT_MARKER.format(rows=2 * BATCH_ROWS))
    assert not text.endswith("\r\n")
    with pytest.raises(csv.Error):
        list(csv.reader(io.StringIO(text, newline=""), strict=True))
    # the rows sent before the cut are whole records
    records = list(csv.reader(io.StringIO(text[:text.rindex("\r\n") + 2], newline="")))
    assert len(records) == 1 + 2 * BATCH_ROWS
    _wait_until(lambda: slots.taken == 0, "a cut stream kept its slot")


def test_the_test_client_gives_the_slot_back_when_the_response_is_closed() -> None:
    app, slots = _export_app(streams=1)
    client = app.test_client()
    held = client.get("/v1/items", headers={"Accept": "text/csv"})  # endless, not read
    assert held.status_code == 200
    assert slots.taken == 1
    assert client.get("/v1/items", headers={"Accept": "text/csv"}).status_code == 503
    held.close()
    assert slots.taken == 0
    again = client.get("/v1/items", headers={"Accept": "text/csv"})
    assert again.status_code == 200
    again.close()


def test_a_whole_set_that_ends_gives_its_slot_back_without_a_close() -> None:
    app, slots = _export_app(streams=1)

    @app.get("/v1/few")
    def few() -> Response:
        pagination = SimpleNamespace(page=1, page_size=10, first_item=0, item_count=None)
        return csv_response(Item(), lambda offset, limit: ([{"id": "1", "note": "n"}], 1),
                            pagination, "few")

    client = app.test_client()
    for _ in range(3):  # read to the end, never closed
        assert client.get("/v1/few", headers={"Accept": "text/csv"}).get_data() \
            == b"id,note\r\n1,n\r\n"
    assert slots.taken == 0


@pytest.mark.parametrize(("value", "streams"), [(None, 2), ("1", 1), ("16", 16)])
def test_the_stream_limit_is_read_from_the_environment(value: str | None, streams: int) -> None:
    environ = {} if value is None else {"OKR_CSV_EXPORT_STREAMS": value}
    assert CsvExportLimits.from_env(environ).streams == streams


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_stream_limit_below_one_or_not_a_number_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="OKR_CSV_EXPORT_STREAMS"):
        CsvExportLimits.from_env({"OKR_CSV_EXPORT_STREAMS": value})
