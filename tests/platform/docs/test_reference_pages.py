"""What every service serves about itself, without a token: what each problem ``type``
means, and the event contract (AsyncAPI document, JSON Schemas).

Against the real services (``okr-* serve``, gunicorn): each problem type of the registry
(``shared/web/problems.py``) has its page on every service; the problems the services
really answer with (from the input boundary, authentication, routing, gunicorn itself)
name types whose pages resolve against the request's URL; the AsyncAPI document's
references to the schemas resolve to the schemas served beside it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contract.schemas import (
    DOCUMENTED_EVENT_TYPES,
    NOTIFICATION_EVENT_TYPES,
    ROLLUP_EVENT_TYPES,
    schema_for,
)
from shared.web.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPES
from shared.web.reference import OPEN_PATHS
from tests.platform.docs.conftest import REPOSITORY, SERVICES, Platform
from tests.support.hostile import hostile_path_segment

pytestmark = pytest.mark.timeout(240)

CONTRACT = REPOSITORY / "shared" / "contract"
SCHEMA_TYPES = sorted(DOCUMENTED_EVENT_TYPES | ROLLUP_EVENT_TYPES | NOTIFICATION_EVENT_TYPES)


def _get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=30)


# -- problem types ---------------------------------------------------------------------------

@pytest.mark.parametrize("service", SERVICES)
def test_every_problem_type_has_a_page_on_every_service(platform: Platform,
                                                        service: str) -> None:
    base = platform.urls[service]
    for kind in PROBLEM_TYPES.values():
        page = _get(urljoin(base, kind.uri))
        assert page.status_code == 200, (kind.uri, page.text)
        assert page.headers["Content-Type"].startswith("text/html")
        assert f"<h1>{kind.status} {html.escape(kind.title)}</h1>" in page.text
        assert html.escape(kind.explanation) in page.text
        as_json = _get(urljoin(base, kind.uri), Accept="application/json")
        assert as_json.headers["Content-Type"] == "application/json"
        assert as_json.json() == {"type": kind.uri, "status": kind.status,
                                  "title": kind.title, "explanation": kind.explanation}
    index = _get(f"{base}/problems", Accept="application/json").json()
    assert [entry["type"] for entry in index] == [k.uri for k in PROBLEM_TYPES.values()]


def _answers(base: str, routes: set[str]) -> list[requests.Response]:
    """Requests each refused somewhere else: routing, the input boundary, authentication,
    gunicorn's own parser; sent as any client would, without a token."""
    protected = next(path for path in sorted(routes) if path.startswith("/v1/")
                     and "{" not in path and not path.endswith("/revocations"))
    post = f"{base}{protected}"
    json_type = {"Content-Type": "application/json"}
    return [
        requests.get(f"{base}/v1/no-such-route", timeout=30),                       # 404
        requests.delete(f"{base}/healthz", timeout=30),                             # 405
        requests.post(post, data=b"{not json", headers=json_type, timeout=30),      # 400
        requests.post(post, data=b"[" * 100 + b"]" * 100, headers=json_type,
                      timeout=30),                                                  # 422
        requests.post(post, data=b"x" * (2 * 1024 * 1024), headers=json_type,
                      timeout=30),                                                  # 413
        requests.get(post, timeout=30),                                             # 401
        requests.get(f"{base}/{'x' * 5000}", timeout=30),                           # 414
        requests.get(f"{base}/healthz", headers={"X-Big": "x" * 9000}, timeout=30),  # 431
        requests.get(f"{base}/schemas/okr.no.such.event.json", timeout=30),        # 404
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_the_problems_services_answer_with_name_pages_that_explain_them(
        platform: Platform, service: str) -> None:
    answers = _answers(platform.urls[service], platform.routes[service])
    statuses = set()
    for answer in answers:
        assert answer.headers["Content-Type"] == PROBLEM_CONTENT_TYPE, answer.text
        problem = answer.json()
        statuses.add(problem["status"])
        page = _get(urljoin(answer.url, problem["type"]), Accept="application/json")
        assert page.status_code == 200, problem
        assert page.json()["status"] == problem["status"] == answer.status_code
        assert page.json()["title"] == problem["title"]
    assert statuses == {400, 401, 404, 405, 413, 414, 422, 431}


# -- the event contract ----------------------------------------------------------------------

def _external_references(node: object) -> set[str]:
    if isinstance(node, dict):
        found = {value for key, value in node.items()
                 if key == "$ref" and isinstance(value, str) and not value.startswith("#")}
        return found.union(*(_external_references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_external_references(value) for value in node))
    return set()


@pytest.mark.parametrize("service", SERVICES)
def test_the_asyncapi_document_and_the_schemas_it_names_are_served(
        platform: Platform, service: str) -> None:
    base = platform.urls[service]
    document = _get(f"{base}/asyncapi.yaml")
    assert document.status_code == 200
    assert document.headers["Content-Type"] == "application/yaml"
    assert document.content == (CONTRACT / "asyncapi.yaml").read_bytes()
    references = _external_references(yaml.safe_load(document.text))
    assert len(references) >= 10
    for reference in sorted(references):
        schema = _get(urljoin(document.url, reference))
        assert schema.status_code == 200, reference
        assert schema.headers["Content-Type"] == "application/schema+json"
        assert schema.json() == schema_for(Path(reference).name.removesuffix(".json"))


@pytest.mark.parametrize("service", SERVICES)
def test_every_event_type_with_a_schema_has_it_served(platform: Platform,
                                                      service: str) -> None:
    for event_type in SCHEMA_TYPES:
        schema = _get(f"{platform.urls[service]}/schemas/{event_type}.json")
        assert schema.status_code == 200, event_type
        assert schema.headers["Content-Type"] == "application/schema+json"
        assert schema.content == (CONTRACT / "schemas" / f"{event_type}.json").read_bytes()
    for unknown in ("okr.objective.created", "okr.objective.created.yaml", "..%2Fasyncapi.yaml",
                    "__init__.py", "okr.goals.v1.json"):
        answer = _get(f"{platform.urls[service]}/schemas/{unknown}")
        assert answer.status_code == 404, unknown
        assert answer.headers["Content-Type"] == PROBLEM_CONTENT_TYPE


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=hostile_path_segment(), where=st.sampled_from(["/problems/", "/schemas/",
                                                           "/docs/assets/"]))
def test_a_hostile_name_is_a_problem_never_a_crash(platform: Platform, name: str,
                                                   where: str) -> None:
    answer = _get(f"{platform.urls['goals']}{where}{name}")
    if answer.status_code != 200:  # a hostile name may still name a page ("conflict")
        assert answer.status_code in (400, 404, 414), answer.text
        assert answer.headers["Content-Type"] == PROBLEM_CONTENT_TYPE


# -- open to all, and cached well ------------------------------------------------------------

@pytest.mark.parametrize("service", SERVICES)
def test_the_reference_needs_no_token_and_answers_304_to_a_cached_copy(
        platform: Platform, service: str) -> None:
    base = platform.urls[service]
    paths = ["/docs", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css",
             "/openapi.json", "/problems", "/problems/precondition-failed", "/asyncapi.yaml",
             f"/schemas/{SCHEMA_TYPES[0]}.json"]
    assert {path for path in paths if not path.startswith(OPEN_PATHS)} == set()
    for path in paths:
        for authorization in ({}, {"Authorization": "Bearer not-a-token"}):
            answer = _get(base + path, **authorization)
            assert answer.status_code == 200, (path, answer.text)
        if path != "/openapi.json":
            again = _get(base + path, **{"If-None-Match": answer.headers["ETag"]})
            assert again.status_code == 304, path
            assert again.content == b""


def test_the_docs_page_may_load_nothing_from_elsewhere(platform: Platform) -> None:
    policy = _get(f"{platform.urls['goals']}/docs").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    for directive in ("script-src", "connect-src"):
        assert directives[directive] == "'self'", directive
    assert json.dumps(directives).count("http") == 0
