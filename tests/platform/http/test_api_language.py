"""One API language, proven on the three services served over HTTP on seeded databases.

Deterministic, beside the fuzzing (``tests/platform/fuzz/test_live_api_fuzz.py``): every
documented read is called and its real answer compared with the documented schema, and so
is every answer the seeding got, so nullability and the one date-time form are checked
even where generated requests never reach (a key result never checked in, an e-mail
subscription...). Then what every operation shares: ``Link`` pagination headers, unknown
query parameters refused by name, bodies that are not JSON refused for what they are.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.notifications.bootstrap import Notifications
from tests.support.live_apis import LiveApi
from tests.support.openapi_answers import RFC_1123, body_errors

LINK = re.compile(r'<([^>]*)>; rel="(first|prev|next|last)"')


def _filled(api: LiveApi, template: str) -> list[str]:
    """The template's path with each seeded item it can name (none: the path itself)."""
    if "{" not in template:
        return [template]
    prefix = template[:template.index("{")]
    ids = next((ids for key, ids in api.existing.items() if prefix == key), [])
    assert ids, f"the seed names no item for {template}"
    return [re.sub(r"\{[^}]+\}", item, template, count=1) for item in ids]


def _links(response: requests.Response) -> dict[str, str]:
    return {rel: uri for uri, rel in LINK.findall(response.headers.get("Link", ""))}


def walk_documented_reads(api: LiveApi) -> None:
    """Call every documented GET (small pages) and compare every answer so far with the
    document: status documented, body allowed by its schema, no RFC 1123 date anywhere."""
    document = api.document()
    for template, operations in document["paths"].items():
        if "get" not in operations:
            continue
        paginated = any(p.get("name") == "page_size"
                        for p in operations["get"].get("parameters", []))
        for path in _filled(api, template):
            response = api.call("GET", path + ("?page_size=1" if paginated else ""))
            assert response.status_code == 200, (path, response.text)
            if paginated:
                check_page_links(response, "page_size=1")
    problems = []
    for method, path, response in api.answers:
        body = response.json() if response.content else None
        problems += body_errors(document, method, path, response.status_code,
                                response.headers.get("Content-Type", ""), body)
        if RFC_1123.search(response.text):
            problems.append(f"{method} {path}: an RFC 1123 date in {response.text[:300]}")
    assert not problems, "\n".join(problems)


def check_page_links(response: requests.Response, kept: str) -> None:
    metadata = json.loads(response.headers["X-Pagination"])
    links = _links(response)
    if metadata["total"] == 0:
        assert links == {}
        return
    assert set(links) >= {"first", "last"}, response.headers.get("Link")
    for rel, uri in links.items():
        query = parse_qs(urlsplit(uri).query)
        assert kept in urlsplit(uri).query, (rel, uri)
        assert urlsplit(uri).path == urlsplit(response.url).path
        expected = {"first": 1, "last": metadata["last_page"],
                    "next": metadata.get("next_page"),
                    "prev": metadata.get("previous_page")}[rel]
        assert query["page"] == [str(expected)], (rel, uri, metadata)
    assert ("next" in links) == ("next_page" in metadata)


def test_every_goals_answer_matches_its_documented_schema(live_goals: LiveApi) -> None:
    walk_documented_reads(live_goals)


def test_every_metrics_answer_matches_its_documented_schema(live_metrics: LiveApi) -> None:
    walk_documented_reads(live_metrics)


def test_every_notifications_answer_matches_its_documented_schema(
        live_notifications: LiveApi) -> None:
    walk_documented_reads(live_notifications)


# -- unknown query parameters, on every operation of every service ---------------------------

def refuses_undeclared_query_parameters(api: LiveApi) -> None:
    document = api.document()
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "post", "patch", "delete"):
                continue
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            path = _filled(api, template)[0]
            body = {"json": {}} if "requestBody" in operation else {}
            response = api.call(method.upper(), f"{path}?departmnet=sales",
                                headers={"If-Match": '"1"'}, **body)
            assert response.status_code == 400, (method, path, response.text)
            problem = response.json()
            assert "'departmnet'" in problem["detail"], problem
            assert problem["errors"] == {"query": {"departmnet": ["Unknown query parameter."]}}
            for name in declared:
                assert name in problem["detail"], (name, problem["detail"])


def test_goals_refuses_unknown_query_parameters_by_name(live_goals: LiveApi) -> None:
    refuses_undeclared_query_parameters(live_goals)


def test_metrics_refuses_unknown_query_parameters_by_name(live_metrics: LiveApi) -> None:
    refuses_undeclared_query_parameters(live_metrics)


def test_notifications_refuses_unknown_query_parameters_by_name(
        live_notifications: LiveApi) -> None:
    refuses_undeclared_query_parameters(live_notifications)


def test_a_single_valued_parameter_given_twice_is_refused(live_goals: LiveApi) -> None:
    response = live_goals.call("GET", "/v1/objectives?cycle=2026-Q4&cycle=2027-Q1")
    assert response.status_code == 400
    assert response.json()["errors"]["query"] == {
        "cycle": ["Given more than once; this parameter takes one value."]}


# -- bodies that are not JSON ---------------------------------------------------------------

def refuses_bodies_that_are_not_json(api: LiveApi) -> None:
    """Every operation documented with a JSON body: 415 for another or no content type, 400
    for no body, malformed JSON or a member name given twice in one object, each saying so;
    nothing is written."""
    document = api.document()
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            path, verb = _filled(api, template)[0], method.upper()
            answers = {
                "form": api.call(verb, path, data={"key": "value"}),
                "text": api.call(verb, path, data=b'{"a": 1}',
                                 headers={"Content-Type": "text/plain"}),
                "none": api.call(verb, path, data=b'{"a": 1}',
                                 headers={"Content-Type": ""}),
                "empty": api.call(verb, path, headers={"Content-Type": "application/json"}),
                "malformed": api.call(verb, path, data=b'{"a": ',
                                      headers={"Content-Type": "application/json"}),
                "twice": api.call(verb, path, data=b'{"b": {"a": 1, "a": 2}}',
                                  headers={"Content-Type": "application/json"}),
            }
            for kind in ("form", "text", "none"):
                answer = answers[kind]
                assert answer.status_code == 415, (verb, path, kind, answer.text)
                assert "Content-Type: application/json" in answer.json()["detail"]
                if verb in ("POST", "PATCH"):
                    assert answer.headers[f"Accept-{verb.title()}"] == "application/json"
            assert answers["empty"].status_code == 400, answers["empty"].text
            assert "needs a JSON body" in answers["empty"].json()["detail"]
            assert answers["malformed"].status_code == 400
            assert "not valid JSON" in answers["malformed"].json()["detail"]
            assert answers["twice"].status_code == 400, (verb, path, answers["twice"].text)
            assert "'a' appears twice" in answers["twice"].json()["detail"]
            assert "Missing data" not in " ".join(a.text for a in answers.values())


def test_goals_says_what_is_wrong_with_a_body_that_is_not_json(live_goals: LiveApi) -> None:
    refuses_bodies_that_are_not_json(live_goals)


def test_notifications_says_what_is_wrong_with_a_body_that_is_not_json(
        live_notifications: LiveApi) -> None:
    refuses_bodies_that_are_not_json(live_notifications)


# printable ASCII that an HTTP client can send as a header value (requests refuses leading
# or trailing blanks, as servers strip them)
@given(content_type=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e),
                            max_size=60).filter(lambda value: value == value.strip()),
       body=st.binary(min_size=1, max_size=64))
@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def _any_content_type(api: LiveApi, content_type: str, body: bytes) -> None:
    response = api.call("POST", "/v1/cycles", data=body,
                        headers={"Content-Type": content_type})
    assert response.status_code in (400, 415, 422), (content_type, body, response.text)
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_hostile_content_type_or_body_is_a_4xx_problem_and_stores_nothing(
        live_goals: LiveApi) -> None:
    before = live_goals.call("GET", "/v1/cycles").json()
    _any_content_type(live_goals)
    assert live_goals.call("GET", "/v1/cycles").json() == before


# -- filters that name what does not exist ----------------------------------------------------

def test_goals_filters_naming_an_unknown_department_or_cycle_say_so(
        live_goals: LiveApi) -> None:
    for path, name, value in [("/v1/objectives?department=salez", "department", "salez"),
                              ("/v1/objectives?cycle=2031-Q1", "cycle", "2031-Q1"),
                              ("/v1/links?department=salez", "department", "salez"),
                              ("/v1/audit?department=salez", "department", "salez")]:
        response = live_goals.call("GET", path)
        assert response.status_code == 400, (path, response.text)
        assert f"'{value}'" in response.json()["detail"]
        assert list(response.json()["errors"]["query"]) == [name]
    # a department that exists but owns nothing is an empty list, not an error
    assert live_goals.call("GET", "/v1/objectives?department=production").json() == []


def test_metrics_filters_naming_an_unknown_department_or_cycle_say_so(
        live_metrics: LiveApi) -> None:
    response = live_metrics.call("GET", "/v1/rollups?cycle=2031-Q1&department=salez")
    assert response.status_code == 400
    assert set(response.json()["errors"]["query"]) == {"cycle", "department"}
    assert "'2031-Q1'" in response.json()["detail"] and "'salez'" in response.json()["detail"]
    # finance owns an objective; marketing only co-owns the collective target
    for department in ("finance", "marketing"):
        assert live_metrics.call("GET", f"/v1/rollups?department={department}").json()


def test_notifications_filter_naming_an_unknown_department_says_so(
        live_notifications: LiveApi, notifications: Notifications) -> None:
    response = live_notifications.call("GET", "/v1/subscriptions?department=salez")
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]["query"]) == {"department"}
    assert "'salez'" in response.json()["detail"]
    # known from a subscription of its own (the seed's), or from the goals it heard of
    assert live_notifications.call("GET", "/v1/subscriptions?department=sales").json()
    for department in ("production", "it-ops"):
        assert live_notifications.call(
            "GET", f"/v1/subscriptions?department={department}").status_code == 400
    with notifications.unit_of_work() as uow:
        uow.goals.put_objective("o-1", title="Capacity", kind="collective",
                                departments=["marketing", "production"], cycle="2026-Q4")
        uow.goals.put_link("l-1", "it-ops", "objective", "o-1")
        uow.commit()
    for department in ("production", "it-ops", "marketing"):
        answer = live_notifications.call("GET", f"/v1/subscriptions?department={department}")
        assert answer.status_code == 200, (department, answer.text)
        assert answer.json() == []
    # a key that is part of a known one is not known ("sale" within "sales")
    assert live_notifications.call("GET", "/v1/subscriptions?department=sale").status_code == 400


def test_rollups_filter_by_any_of_several_statuses(live_metrics: LiveApi) -> None:
    everything: list[dict[str, Any]] = live_metrics.call("GET", "/v1/rollups").json()
    statuses = {rollup["status"] for rollup in everything}
    assert len(statuses) >= 2, statuses  # the seed gives the filter something to split
    def ids(path: str) -> list[str]:
        return [rollup["objective_id"] for rollup in live_metrics.call("GET", path).json()]

    for status in statuses:
        assert ids(f"/v1/rollups?status={status}") == [
            r["objective_id"] for r in everything if r["status"] == status]
    first, second = sorted(statuses)[:2]
    assert ids(f"/v1/rollups?status={first}&status={second}") == [
        r["objective_id"] for r in everything if r["status"] in (first, second)]
    wrong = live_metrics.call("GET", f"/v1/rollups?status={first},{second}")
    assert wrong.status_code == 422
    assert "repeat the parameter" in json.dumps(wrong.json()["errors"])


def test_a_key_result_in_a_roll_up_tree_carries_current_and_its_deprecated_alias(
        live_metrics: LiveApi) -> None:
    objective = live_metrics.existing["/v1/rollups/"][1]  # sales: a key result checked in
    tree = live_metrics.call("GET", f"/v1/rollups/{objective}").json()
    key_results = [child for child in tree["children"] if child["type"] == "key_result"]
    assert key_results and all(kr["value"] == kr["current"] for kr in key_results)
    assert 40.0 in [kr["current"] for kr in key_results]


def test_page_links_keep_the_filters_and_point_past_the_end_back_to_the_last_page(
        live_goals: LiveApi) -> None:
    middle = live_goals.call("GET", "/v1/objectives?cycle=2026-Q4&page_size=1&page=2")
    check_page_links(middle, "cycle=2026-Q4")
    links = _links(middle)
    assert set(links) == {"first", "prev", "next", "last"}
    assert all("page_size=1" in uri and uri.startswith("/v1/objectives?") for uri in
               links.values())
    beyond = live_goals.call("GET", "/v1/objectives?cycle=2026-Q4&page_size=1&page=99")
    assert beyond.json() == []
    assert parse_qs(urlsplit(_links(beyond)["prev"]).query)["page"] == ["3"]  # three exist
    assert "next" not in _links(beyond)



def empty_path_segments_are_not_found(api: LiveApi) -> None:
    """``/v1/rollups//explain`` is no resource: Werkzeug would merge the slashes and answer
    a 308 to ``/v1/rollups/explain`` with an HTML body (found by the explain fuzz test)."""
    emptied = sorted({re.sub(r"\{[^}]+\}", "", template)
                      for template in api.document()["paths"] if "{" in template})
    assert emptied
    for path in emptied:
        for method in ("GET", "POST", "PATCH", "DELETE"):
            response = api.call(method, path, allow_redirects=False, json={},
                                headers={"If-Match": '"1"'})
            assert response.status_code in (404, 405), (method, path, response.status_code)
            assert response.headers["Content-Type"] == "application/problem+json", (
                method, path, response.headers["Content-Type"])


def test_goals_empty_path_segments_are_not_found(live_goals: LiveApi) -> None:
    empty_path_segments_are_not_found(live_goals)


def test_metrics_empty_path_segments_are_not_found(live_metrics: LiveApi) -> None:
    empty_path_segments_are_not_found(live_metrics)


def test_notifications_empty_path_segments_are_not_found(live_notifications: LiveApi) -> None:
    empty_path_segments_are_not_found(live_notifications)
