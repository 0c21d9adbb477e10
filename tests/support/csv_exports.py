"""Reading a CSV export with the ``csv`` module and holding it against the JSON of the same
request: the same columns, rows, order and values (docs/api.md, "CSV exports")."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8; header=present"
UTC_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z")
CSV_HEADERS = {"Accept": "text/csv"}


def read_csv(response: Any) -> tuple[list[str], list[list[str]]]:
    """The header and records of a CSV answer, checked for RFC 4180 framing on the way."""
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.headers["Content-Type"] == CSV_CONTENT_TYPE
    assert re.fullmatch(r'attachment; filename="[A-Za-z0-9._-]+\.csv"',
                        response.headers["Content-Disposition"])
    assert "Accept" in response.vary
    data: bytes = response.get_data()
    assert not data.startswith(b"\xef\xbb\xbf")  # no byte-order mark
    assert data.endswith(b"\r\n")
    records = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert records, "no header row"
    return records[0], records[1:]


def all_pages(get: Callable[[str], Any], path: str) -> list[dict[str, Any]]:
    """Every item of a JSON list, page after page of 100."""
    items: list[dict[str, Any]] = []
    separator = "&" if "?" in path else "?"
    page = 1
    while True:
        response = get(f"{path}{separator}page={page}&page_size=100")
        assert response.status_code == 200, response.get_json()
        found = response.get_json()
        items += found
        if len(found) < 100:
            return items
        page += 1


def assert_same_rows(header: list[str], records: list[list[str]],
                     items: list[dict[str, Any]], moving: frozenset[str] = frozenset()) -> None:
    """The CSV holds the JSON's items, in order, a column per field of the JSON (in the
    schema's order, where the JSON's keys are sorted). ``moving``: numbers computed at read
    time from the clock (expected progress), compared to within a minute's change."""
    assert len(records) == len(items)
    if items:
        assert sorted(header) == sorted(items[0])
    for record, item in zip(records, items, strict=True):
        assert len(record) == len(header)
        for name, text in zip(header, record, strict=True):
            if name in moving and text and item[name] is not None:
                moved = json.loads(text) if isinstance(item[name], list) else float(text)
                assert_close(moved, item[name], name)
            else:
                assert_same_value(name, text, item[name])


def assert_close(read: Any, value: Any, name: str) -> None:
    """Numbers within a minute's change of a figure that follows the clock, whatever
    lists and objects hold them; everything else equal."""
    if isinstance(value, float) and not isinstance(read, bool):
        assert read == pytest.approx(value, abs=1e-5), name
    elif isinstance(value, list):
        assert isinstance(read, list) and len(read) == len(value), name
        for held, expected in zip(read, value, strict=True):
            assert_close(held, expected, name)
    elif isinstance(value, dict):
        assert isinstance(read, dict) and read.keys() == value.keys(), name
        for key in value:
            assert_close(read[key], value[key], name)
    else:
        assert read == value, name


def assert_same_value(name: str, text: str, value: Any) -> None:
    where = (name, text, value)
    if value is None:
        assert text == "", where
    elif isinstance(value, bool):
        assert text == ("true" if value else "false"), where
    elif isinstance(value, int | float):
        assert float(text) == value, where  # unformatted: the csv text parses as the number
        assert not text.startswith("'"), where
    elif isinstance(value, list):
        assert text == "+".join(value), where
    elif isinstance(value, dict):
        assert json.loads(_restored(text)) == value, where
    elif name.endswith("_at") and value:
        assert UTC_TIMESTAMP.fullmatch(text), where
        moment = datetime.fromisoformat(text)
        assert moment.utcoffset() == timedelta(0)
        assert moment == datetime.fromisoformat(value), where
    else:
        assert isinstance(value, str)
        assert not text.startswith(FORMULA_STARTS), where
        assert _restored(text) == value, where
        if text != value:  # only the neutralising apostrophe may differ
            assert text == "'" + value and value.startswith((*FORMULA_STARTS, "'")), where


def _restored(text: str) -> str:
    return text[1:] if text.startswith("'") else text
