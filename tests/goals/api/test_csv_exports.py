"""Key results, check-in histories and the audit log as CSV (``Accept: text/csv``): the rows
the JSON of the same request holds, in its order, under the same filters and rights."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.goals.domain.goals import MAX_NOTE, MAX_OWNER
from shared.web import csv_export
from tests.conftest import ADMIN_TOKEN, ApiClient, mint_token
from tests.goals.api.conftest import World, assert_problem, mint
from tests.platform.contract.conftest import Builder
from tests.support.csv_exports import (
    CSV_CONTENT_TYPE,
    CSV_HEADERS,
    all_pages,
    assert_same_rows,
    read_csv,
)

#: What a person may type into a note or an author's name (the input boundary refuses
#: control characters and lone surrogates), starting like a formula more often than chance.
_typed = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
_starts = st.sampled_from(["=", "+", "-", "@", "'", "\t", "\r", "\n", '"', ",", ""])
hostile_note = st.builds(lambda start, rest: start + rest, _starts, st.text(
    alphabet=st.one_of(_typed, st.sampled_from("\t\r\n\",'=")), max_size=40)
).filter(lambda note: len(note) <= MAX_NOTE)
hostile_author = st.builds(lambda start, rest: start + rest,
                           st.sampled_from(["=", "+", "-", "@", "'", ""]),
                           st.text(alphabet=_typed, min_size=1, max_size=20)
                           ).filter(lambda name: len(name) <= MAX_OWNER and name.strip())


@pytest.fixture
def build(api: ApiClient, world: World) -> Builder:
    return Builder(api)


def check_in_many(api: ApiClient, key_result_id: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 1000):
        response = api.post("/v1/check-ins/batch", json={"items": [
            {"key_result_id": key_result_id, **item} for item in items[start:start + 1000]]})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["failed"] == 0, response.get_json()


def csv_of(api: ApiClient, path: str, **headers: str) -> tuple[list[str], list[list[str]]]:
    return read_csv(api.get(path, headers={**CSV_HEADERS, **headers}))


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(notes=st.lists(st.tuples(hostile_note, hostile_author), min_size=1, max_size=40))
def test_a_check_in_history_with_hostile_notes_parses_back_as_the_json_holds_it(
        api: ApiClient, build: Builder, notes: list[tuple[str, str]]) -> None:
    key_result = build.key_result(build.objective("sales")["id"], title="=1+1 '@ \"x\"")
    check_in_many(api, key_result["id"], [
        {"value": -index * 1.5, "confidence": 0.5, "note": note, "author": author}
        for index, (note, author) in enumerate(notes)])
    path = f"/v1/key-results/{key_result['id']}/check-ins"

    header, records = csv_of(api, path)

    assert_same_rows(header, records, all_pages(api.get, path))
    assert len(records) == len(notes)
    key_results = f"/v1/objectives/{key_result['objective_id']}/key-results"
    assert_same_rows(*csv_of(api, key_results), all_pages(api.get, key_results))


def test_a_long_history_streams_whole_in_batches_and_a_page_is_the_jsons_page(
        api: ApiClient, build: Builder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_export, "BATCH_ROWS", 64)  # 350 rows: six batches
    key_result = build.key_result(build.objective("sales")["id"])
    check_in_many(api, key_result["id"], [{"value": float(n), "note": f"-{n}"}
                                          for n in range(350)])
    path = f"/v1/key-results/{key_result['id']}/check-ins"
    everything = all_pages(api.get, path)
    assert len(everything) == 350

    streamed = api.get(path, headers=CSV_HEADERS, buffered=False)
    assert streamed.is_streamed
    chunks = [chunk for chunk in streamed.response if chunk]
    streamed.close()
    assert len(chunks) == 1 + 6  # the header row, then one chunk per batch read
    assert '"total": 350' in streamed.headers["X-Pagination"]
    header, records = csv_of(api, path)
    assert_same_rows(header, records, everything)

    for query in ("?page=2&page_size=100", "?page=4&page_size=100", "?page_size=7"):
        page = api.get(path + query, headers=CSV_HEADERS)
        json_page = api.get(path + query)
        assert page.headers["X-Pagination"] == json_page.headers["X-Pagination"]
        assert_same_rows(*read_csv(page), json_page.get_json())


def test_check_ins_added_while_a_history_streams_send_no_row_twice(
        api: ApiClient, build: Builder, monkeypatch: pytest.MonkeyPatch) -> None:
    """Newest first: each check-in made during the stream pushes the rows already sent into
    the next batch, which leaves them out; the export is the history as it began."""
    monkeypatch.setattr(csv_export, "BATCH_ROWS", 64)
    key_result = build.key_result(build.objective("sales")["id"])
    check_in_many(api, key_result["id"], [{"value": float(n)} for n in range(150)])
    path = f"/v1/key-results/{key_result['id']}/check-ins"
    before = all_pages(api.get, path)

    streamed = api.get(path, headers=CSV_HEADERS, buffered=False)
    chunks = iter(streamed.response)
    received = [next(chunks), next(chunks)]  # the header row and the first batch, sent
    check_in_many(api, key_result["id"], [{"value": -1.0}] * 10)
    received += list(chunks)
    streamed.close()

    records = list(csv.reader(io.StringIO(b"".join(received).decode(), newline="")))[1:]
    assert [record[0] for record in records] == [item["id"] for item in before]
    assert len(all_pages(api.get, path)) == 160


def test_the_audit_log_as_csv_shows_each_caller_what_its_json_shows(
        api: ApiClient, build: Builder, world: World) -> None:
    sales, marketing = build.objective("sales"), build.objective("marketing")
    shared = build.objective("marketing+sales")
    for objective in (sales, marketing, shared):
        build.key_result(objective["id"], title="=HYPERLINK(\"http://evil\",\"x\")")
    head = api.as_token(world.head)  # the head of sales
    admin_rows = csv_of(api, "/v1/audit")[1]
    head_header, head_rows = csv_of(head, "/v1/audit")

    assert_same_rows(head_header, head_rows, all_pages(head.get, "/v1/audit"))
    assert 0 < len(head_rows) < len(admin_rows)
    departments = head_header.index("department")
    assert {row[departments] for row in head_rows} == {"sales", "marketing+sales"}
    for query in ("?item_type=key_result", "?department=sales&item_type=objective"):
        assert_same_rows(*csv_of(api, "/v1/audit" + query),
                         all_pages(api.get, "/v1/audit" + query))

    viewer = api.as_token(world.viewer)
    assert_problem(viewer.get("/v1/audit", headers=CSV_HEADERS), 403)
    assert_problem(head.get("/v1/audit?department=marketing", headers=CSV_HEADERS), 403)
    other_head = api.as_token(mint(api, "head", "finance")["token"])
    finance_header, finance_rows = csv_of(other_head, "/v1/audit")
    assert_same_rows(finance_header, finance_rows, all_pages(other_head.get, "/v1/audit"))
    assert {row[departments] for row in finance_rows} == {"finance"}  # its seeding, its token


def test_csv_exports_refuse_as_the_json_does(api: ApiClient, build: Builder,
                                             world: World) -> None:
    assert_problem(api.get("/v1/key-results/nope/check-ins", headers=CSV_HEADERS), 404)
    assert_problem(api.get("/v1/objectives/nope/key-results", headers=CSV_HEADERS), 404)
    assert_problem(api.as_token(None).get("/v1/audit", headers=CSV_HEADERS), 401)
    assert_problem(api.get("/v1/audit?since=yesterday", headers=CSV_HEADERS), 422)
    assert_problem(api.get("/v1/audit?department=nope", headers=CSV_HEADERS), 400)
    whole = api.get("/v1/audit", headers=CSV_HEADERS)  # the one page: no Link to others
    assert whole.status_code == 200 and "Link" not in whole.headers
    objective = build.objective("sales")
    assert_problem(api.get(f"/v1/objectives/{objective['id']}/key-results",
                           headers={"Accept": "application/xml"}), 406)
    viewer = api.as_token(world.viewer)  # viewers read goals: CSV too
    header, records = csv_of(viewer, f"/v1/objectives/{objective['id']}/key-results")
    assert records == [] and header  # an empty list still has its header row


def test_the_openapi_documents_the_csv_answers(api: ApiClient) -> None:
    paths = api.get("/openapi.json").get_json()["paths"]
    for path in ("/v1/audit", "/v1/key-results/{key_result_id}/check-ins",
                 "/v1/objectives/{objective_id}/key-results"):
        responses = paths[path]["get"]["responses"]
        assert set(responses["200"]["content"]) == {"application/json", "text/csv"}, path
        assert "application/problem+json" in responses["406"]["content"], path
        assert "OKR_CSV_EXPORT_STREAMS" in responses["503"]["description"], path


def test_an_export_streams_over_real_http_as_its_json_lists(goals_server: str) -> None:
    """Through a real HTTP server: the stream runs after the request's own connection was
    released, on connections of its own, and arrives whole."""
    for number in range(3):  # audit entries of its own (the server's tokens)
        mint_token(goals_server, "viewer", name=f"csv export {number}")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with requests.get(f"{goals_server}/v1/audit", headers={**admin, **CSV_HEADERS},
                      stream=True, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == CSV_CONTENT_TYPE
        text = b"".join(response.iter_content(chunk_size=None)).decode("utf-8")
    header, *records = list(csv.reader(io.StringIO(text, newline="")))
    items = all_pages(lambda path: _HttpResponse(requests.get(
        goals_server + path, headers=admin, timeout=30)), "/v1/audit")
    assert len(items) >= 3
    assert_same_rows(header, records, items)


class _HttpResponse:
    """A ``requests`` answer read like a Flask test response by ``all_pages``."""

    def __init__(self, response: requests.Response) -> None:
        self.status_code = response.status_code
        self._response = response

    def get_json(self) -> Any:
        return self._response.json()


def test_a_whole_list_export_beyond_the_process_limit_is_a_503_and_a_page_is_not(
        api: ApiClient, build: Builder) -> None:
    """Every slot held by streams that are not read: the next whole-list export of any
    route is refused before it reads anything; pages and JSON still answer; a closed stream
    gives its slot back."""
    key_result = build.key_result(build.objective("sales")["id"])
    check_in_many(api, key_result["id"], [{"value": float(n)} for n in range(3)])
    history = f"/v1/key-results/{key_result['id']}/check-ins"
    slots = api.client.application.extensions[csv_export.EXTENSION]
    held = []
    while slots.taken < slots.limits.streams:
        held.append(api.get(history, headers=CSV_HEADERS, buffered=False))
        assert held[-1].status_code == 200

    for path in (history, "/v1/audit", f"/v1/objectives/{key_result['objective_id']}"
                                       "/key-results"):
        body = assert_problem(api.get(path, headers=CSV_HEADERS), 503)
        assert "OKR_CSV_EXPORT_STREAMS" in body["detail"]
    refused = api.get("/v1/audit", headers=CSV_HEADERS)
    assert int(refused.headers["Retry-After"]) > 0
    assert len(read_csv(api.get(history + "?page_size=2", headers=CSV_HEADERS))[1]) == 2
    assert api.get(history).status_code == 200

    held.pop().close()
    assert slots.taken == slots.limits.streams - 1
    assert_same_rows(*read_csv(api.get(history, headers=CSV_HEADERS)), all_pages(api.get, history))
    for response in held:
        response.close()
    assert slots.taken == 0
