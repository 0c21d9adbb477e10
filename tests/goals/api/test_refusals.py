"""Bad input to every route of the goals service: a 4xx problem document, and nothing changes.

Each case is one request; the test snapshots the outbox, the audit log and every stored
item before and after it, and requires them to be identical.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.goals.bootstrap import Goals
from tests.conftest import ApiClient
from tests.goals.api.conftest import CYCLE, World, assert_problem, snapshot

IF_MATCH = {"If-Match": '"1"'}
JSON = {"Content-Type": "application/json"}

#: Every route of the goals API, with a path that exists in the ``world`` fixture.
ROUTES = [
    ("GET", "/v1/departments"),
    ("POST", "/v1/departments"),
    ("GET", "/v1/departments/sales"),
    ("PATCH", "/v1/departments/sales"),
    ("GET", "/v1/cycles"),
    ("POST", "/v1/cycles"),
    ("GET", f"/v1/cycles/{CYCLE}"),
    ("PATCH", f"/v1/cycles/{CYCLE}"),
    ("GET", "/v1/tokens"),
    ("POST", "/v1/tokens"),
    ("DELETE", "/v1/tokens/{viewer_id}"),
    ("GET", "/v1/audit"),
]

#: A valid body for each write, so that only the caller is wrong.
VALID_BODY = {
    ("POST", "/v1/departments"): {"key": "legal", "name": "Legal"},
    ("PATCH", "/v1/departments/sales"): {"name": "Sales EMEA"},
    ("POST", "/v1/cycles"): {"key": "2027-Q1", "starts_on": "2027-01-01",
                             "ends_on": "2027-03-31"},
    ("PATCH", f"/v1/cycles/{CYCLE}"): {"name": "Q4"},
    ("POST", "/v1/tokens"): {"name": "ci", "role": "viewer"},
}


def _valid(method: str, path: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if (method, path) in VALID_BODY:
        kwargs["json"] = VALID_BODY[method, path]
    if method == "PATCH":
        kwargs["headers"] = dict(IF_MATCH)
    return kwargs


AUTHENTICATION_CASES = [
    pytest.param(caller, method, path, _valid(method, path), 401,
                 id=f"401-{caller}-{method}-{path}")
    for method, path in ROUTES for caller in ("none", "unknown", "revoked")
] + [
    pytest.param(caller, method, path, _valid(method, path), 401,
                 id=f"401-{caller}-{method}-{path}")
    for method, path in (ROUTES[0], ROUTES[3]) for caller in ("basic-scheme", "empty-bearer")
]

FORBIDDEN_CASES = [
    pytest.param(caller, method, path, _valid(method, path), 403,
                 id=f"403-{caller}-{method}-{path}")
    for caller in ("viewer", "head")
    for method, path in ROUTES
    if method != "GET" or path in ("/v1/tokens",)
] + [
    pytest.param("viewer", "GET", "/v1/audit", {}, 403, id="403-viewer-reads-audit"),
    pytest.param("head", "GET", "/v1/audit?department=marketing", {}, 403,
                 id="403-head-reads-other-departments-audit"),
]


def case(status: int, method: str, path: str, ident: str, caller: str = "admin",
         **kwargs: Any) -> Any:
    return pytest.param(caller, method, path, kwargs, status, id=f"{status}-{ident}")


WRITES = [(m, p) for m, p in ROUTES if m in ("POST", "PATCH")]

MALFORMED_JSON_CASES = [
    case(400, method, path, f"{label}-{method}-{path}", data=body,
         headers={**JSON, **(IF_MATCH if method == "PATCH" else {})})
    for method, path in WRITES
    for label, body in (("malformed-json", '{"key": "legal",'), ("not-json", "key=legal"),
                        ("trailing-garbage", '{"name": "x"} }'))
]

NOT_AN_OBJECT_CASES = [
    case(422, method, path, f"{label}-{method}-{path}", data=body,
         headers={**JSON, **(IF_MATCH if method == "PATCH" else {})})
    for method, path in WRITES
    for label, body in (("json-array", "[1, 2]"), ("json-null", "null"),
                        ("json-string", '"legal"'))
]

LONG = "x" * 101

VALIDATION_CASES = [
    # POST /v1/departments
    case(422, "POST", "/v1/departments", "department-missing-fields", json={}),
    case(422, "POST", "/v1/departments", "department-missing-name", json={"key": "legal"}),
    # no body at all: the boundary says the operation needs one (was 422 "Missing data")
    case(400, "POST", "/v1/departments", "department-no-body"),
    case(422, "POST", "/v1/departments", "department-wrong-types", json={"key": 1, "name": 2}),
    case(422, "POST", "/v1/departments", "department-null-name",
         json={"key": "legal", "name": None}),
    case(422, "POST", "/v1/departments", "department-unknown-field",
         json={"key": "legal", "name": "Legal", "budget": 5}),
    case(422, "POST", "/v1/departments", "department-read-only-field",
         json={"key": "legal", "name": "Legal", "version": 7}),
    case(422, "POST", "/v1/departments", "department-key-uppercase",
         json={"key": "Legal", "name": "Legal"}),
    case(422, "POST", "/v1/departments", "department-key-one-letter",
         json={"key": "l", "name": "Legal"}),
    case(422, "POST", "/v1/departments", "department-key-too-long",
         json={"key": "l" * 41, "name": "Legal"}),
    case(422, "POST", "/v1/departments", "department-key-space",
         json={"key": "le gal", "name": "Legal"}),
    case(422, "POST", "/v1/departments", "department-key-trailing-newline",
         json={"key": "legal\n", "name": "Legal"}),
    case(422, "POST", "/v1/departments", "department-empty-name",
         json={"key": "legal", "name": ""}),
    case(422, "POST", "/v1/departments", "department-blank-name",
         json={"key": "legal", "name": "   "}),
    case(422, "POST", "/v1/departments", "department-name-too-long",
         json={"key": "legal", "name": LONG}),
    case(422, "POST", "/v1/departments", "department-name-with-nul",
         json={"key": "legal", "name": "Le\u0000gal"}),
    case(422, "POST", "/v1/departments", "department-name-with-control-character",
         json={"key": "legal", "name": "Le\u001bgal"}),
    # PATCH /v1/departments/{key}
    case(422, "PATCH", "/v1/departments/sales", "rename-missing-name", json={},
         headers=IF_MATCH),
    case(422, "PATCH", "/v1/departments/sales", "rename-wrong-type", json={"name": 5},
         headers=IF_MATCH),
    case(422, "PATCH", "/v1/departments/sales", "rename-unknown-field",
         json={"name": "Sales", "key": "revenue"}, headers=IF_MATCH),
    case(422, "PATCH", "/v1/departments/sales", "rename-empty-name", json={"name": ""},
         headers=IF_MATCH),
    case(422, "PATCH", "/v1/departments/sales", "rename-blank-name", json={"name": " \t "},
         headers=IF_MATCH),
    case(422, "PATCH", "/v1/departments/sales", "rename-name-too-long", json={"name": LONG},
         headers=IF_MATCH),
    case(422, "PATCH", "/v1/departments/sales", "rename-name-with-nul",
         json={"name": "Sa\u0000les"}, headers=IF_MATCH),
    # POST /v1/cycles
    case(422, "POST", "/v1/cycles", "cycle-missing-fields", json={}),
    case(422, "POST", "/v1/cycles", "cycle-missing-ends-on",
         json={"key": "2027-Q1", "starts_on": "2027-01-01"}),
    case(422, "POST", "/v1/cycles", "cycle-wrong-types",
         json={"key": 2027, "starts_on": 20270101, "ends_on": True}),
    case(422, "POST", "/v1/cycles", "cycle-not-a-date",
         json={"key": "2027-Q1", "starts_on": "2027-13-01", "ends_on": "2027-03-31"}),
    case(422, "POST", "/v1/cycles", "cycle-datetime-not-date",
         json={"key": "2027-Q1", "starts_on": "2027-01-01T00:00:00Z", "ends_on": "2027-03-31"}),
    case(422, "POST", "/v1/cycles", "cycle-unknown-field",
         json={"key": "2027-Q1", "starts_on": "2027-01-01", "ends_on": "2027-03-31",
               "owner": "me"}),
    case(422, "POST", "/v1/cycles", "cycle-bad-key",
         json={"key": "2027 Q1", "starts_on": "2027-01-01", "ends_on": "2027-03-31"}),
    case(422, "POST", "/v1/cycles", "cycle-key-trailing-newline",
         json={"key": "2027-Q1\n", "starts_on": "2027-01-01", "ends_on": "2027-03-31"}),
    case(422, "POST", "/v1/cycles", "cycle-key-too-long",
         json={"key": "Q" * 41, "starts_on": "2027-01-01", "ends_on": "2027-03-31"}),
    case(422, "POST", "/v1/cycles", "cycle-empty-name",
         json={"key": "2027-Q1", "name": "", "starts_on": "2027-01-01",
               "ends_on": "2027-03-31"}),
    case(422, "POST", "/v1/cycles", "cycle-ends-before-it-starts",
         json={"key": "2027-Q1", "starts_on": "2027-03-31", "ends_on": "2027-01-01"}),
    case(422, "POST", "/v1/cycles", "cycle-ends-the-day-it-starts",
         json={"key": "2027-Q1", "starts_on": "2027-01-01", "ends_on": "2027-01-01"}),
    case(422, "POST", "/v1/cycles", "cycle-longer-than-731-days",
         json={"key": "2027", "starts_on": "2027-01-01", "ends_on": "2029-01-03"}),
    # PATCH /v1/cycles/{key}
    case(422, "PATCH", f"/v1/cycles/{CYCLE}", "cycle-change-empty", json={},
         headers=IF_MATCH),
    case(422, "PATCH", f"/v1/cycles/{CYCLE}", "cycle-change-null-name", json={"name": None},
         headers=IF_MATCH),
    case(422, "PATCH", f"/v1/cycles/{CYCLE}", "cycle-change-unknown-field",
         json={"key": "2026-Q3"}, headers=IF_MATCH),
    case(422, "PATCH", f"/v1/cycles/{CYCLE}", "cycle-change-not-a-date",
         json={"ends_on": "31.12.2026"}, headers=IF_MATCH),
    case(422, "PATCH", f"/v1/cycles/{CYCLE}", "cycle-change-ends-before-start",
         json={"ends_on": "2026-09-30"}, headers=IF_MATCH),
    case(422, "PATCH", f"/v1/cycles/{CYCLE}", "cycle-change-starts-after-end",
         json={"starts_on": "2027-01-01"}, headers=IF_MATCH),
    case(422, "PATCH", f"/v1/cycles/{CYCLE}", "cycle-change-longer-than-731-days",
         json={"starts_on": "2024-12-01"}, headers=IF_MATCH),
    case(422, "PATCH", f"/v1/cycles/{CYCLE}", "cycle-change-name-too-long",
         json={"name": LONG}, headers=IF_MATCH),
    # POST /v1/tokens
    case(422, "POST", "/v1/tokens", "token-missing-fields", json={}),
    case(422, "POST", "/v1/tokens", "token-missing-role", json={"name": "ci"}),
    case(422, "POST", "/v1/tokens", "token-unknown-role", json={"name": "ci", "role": "boss"}),
    case(422, "POST", "/v1/tokens", "token-wrong-types", json={"name": 1, "role": ["admin"]}),
    case(422, "POST", "/v1/tokens", "token-unknown-field",
         json={"name": "ci", "role": "viewer", "token": "my-own-secret"}),
    case(422, "POST", "/v1/tokens", "token-head-without-department",
         json={"name": "ci", "role": "head"}),
    case(422, "POST", "/v1/tokens", "token-viewer-with-department",
         json={"name": "ci", "role": "viewer", "department": "sales"}),
    case(422, "POST", "/v1/tokens", "token-head-of-unknown-department",
         json={"name": "ci", "role": "head", "department": "legal"}),
    case(422, "POST", "/v1/tokens", "token-bad-department-key",
         json={"name": "ci", "role": "head", "department": "Sales"}),
    case(422, "POST", "/v1/tokens", "token-empty-name", json={"name": "", "role": "viewer"}),
    case(422, "POST", "/v1/tokens", "token-name-too-long", json={"name": LONG, "role": "viewer"}),
    # query parameters
    case(422, "GET", "/v1/departments?page=0", "departments-page-0"),
    case(422, "GET", "/v1/departments?page=-1", "departments-page-negative"),
    case(422, "GET", "/v1/departments?page=abc", "departments-page-not-a-number"),
    # int() reads these as 1; a page number is ASCII digits and nothing else
    case(422, "GET", "/v1/departments?page=%D9%A1", "departments-page-arabic-indic-one"),
    case(422, "GET", "/v1/departments?page=%201", "departments-page-leading-space"),
    case(422, "GET", "/v1/departments?page=1%20", "departments-page-trailing-space"),
    case(422, "GET", "/v1/departments?page=%2B1", "departments-page-plus-sign"),
    case(422, "GET", "/v1/departments?page=1_0", "departments-page-underscore"),
    case(422, "GET", "/v1/departments?page=%C2%B2", "departments-page-superscript-two"),
    case(422, "GET", "/v1/departments?page_size=%EF%BC%95", "departments-page-size-full-width"),
    case(422, "GET", "/v1/departments?page_size=0", "departments-page-size-0"),
    case(422, "GET", "/v1/departments?page_size=1000", "departments-page-size-1000"),
    case(422, "GET", "/v1/cycles?page=0", "cycles-page-0"),
    case(422, "GET", "/v1/cycles?page_size=1000", "cycles-page-size-1000"),
    case(422, "GET", "/v1/cycles?active_on=notadate", "cycles-active-on-not-a-date"),
    case(422, "GET", "/v1/cycles?active_on=2026-02-30", "cycles-active-on-no-such-day"),
    case(422, "GET", "/v1/tokens?page=0", "tokens-page-0"),
    case(422, "GET", "/v1/tokens?page_size=1000", "tokens-page-size-1000"),
    case(422, "GET", "/v1/audit?page=0", "audit-page-0"),
    case(422, "GET", "/v1/audit?page_size=1000", "audit-page-size-1000"),
    case(422, "GET", "/v1/audit?since=not-a-time", "audit-since-not-a-time"),
    case(422, "GET", "/v1/audit?until=yesterday", "audit-until-not-a-time"),
    case(422, "GET", "/v1/audit?since=2026-01-01T00:00:00", "audit-since-without-offset"),
    case(422, "GET", "/v1/audit?department=Sales", "audit-bad-department"),
    case(422, "GET", "/v1/audit?item_id=" + "x" * 65, "audit-item-id-too-long"),
    case(422, "GET", "/v1/audit?item_type=" + "x" * 41, "audit-item-type-too-long"),
]

NUL_CASES = [
    case(400, "GET", "/v1/departments/sa%00les", "nul-in-department-key"),
    case(400, "PATCH", "/v1/departments/sa%00les", "nul-in-renamed-department-key",
         json={"name": "Sales"}, headers=IF_MATCH),
    case(400, "GET", "/v1/cycles/2026%00Q4", "nul-in-cycle-key"),
    case(400, "PATCH", "/v1/cycles/2026%00Q4", "nul-in-changed-cycle-key",
         json={"name": "Q4"}, headers=IF_MATCH),
    case(400, "DELETE", "/v1/tokens/abc%00def", "nul-in-token-id"),
    case(400, "GET", "/v1/audit?item_type=cy%00cle", "nul-in-audit-query"),
    case(400, "GET", "/v1/cycles?active_on=2026-10-01%00", "nul-in-cycles-query"),
]

STATE_CASES = [
    # 409: the key exists
    case(409, "POST", "/v1/departments", "department-exists", json={"key": "sales",
                                                                    "name": "Sales 2"}),
    case(409, "POST", "/v1/cycles", "cycle-exists",
         json={"key": CYCLE, "starts_on": "2026-10-01", "ends_on": "2026-12-31"}),
    # 404: no such item (including keys that could never exist)
    case(404, "GET", "/v1/departments/legal", "unknown-department"),
    case(404, "GET", "/v1/departments/Not%20A%20Key", "department-bad-key"),
    case(404, "GET", "/v1/departments/" + "x" * 300, "department-key-very-long"),
    case(404, "PATCH", "/v1/departments/legal", "rename-unknown-department",
         json={"name": "Legal"}, headers=IF_MATCH),
    case(404, "GET", "/v1/cycles/2030-Q1", "unknown-cycle"),
    case(404, "GET", "/v1/cycles/..%2Fetc", "cycle-bad-key"),
    case(404, "PATCH", "/v1/cycles/2030-Q1", "change-unknown-cycle", json={"name": "x"},
         headers=IF_MATCH),
    case(404, "DELETE", "/v1/tokens/00000000-0000-0000-0000-000000000000", "unknown-token"),
    case(404, "DELETE", "/v1/tokens/not-a-uuid", "token-bad-id"),
    case(404, "GET", "/v1/no-such-route", "unknown-route"),
    case(404, "GET", "/v1/departments/sales/objectives", "unknown-sub-route"),
    # 428: no If-Match
    case(428, "PATCH", "/v1/departments/sales", "rename-without-if-match",
         json={"name": "Sales EMEA"}),
    case(428, "PATCH", "/v1/departments/sales", "rename-with-if-match-star",
         json={"name": "Sales EMEA"}, headers={"If-Match": "*"}),
    case(428, "PATCH", f"/v1/cycles/{CYCLE}", "change-cycle-without-if-match",
         json={"name": "Q4"}),
    case(428, "PATCH", f"/v1/cycles/{CYCLE}", "change-cycle-with-if-match-star",
         json={"name": "Q4"}, headers={"If-Match": "*"}),
    # 412: If-Match names another version
    case(412, "PATCH", "/v1/departments/sales", "rename-stale-if-match",
         json={"name": "Sales EMEA"}, headers={"If-Match": '"2"'}),
    case(412, "PATCH", "/v1/departments/sales", "rename-older-if-match",
         json={"name": "Sales EMEA"}, headers={"If-Match": '"0"'}),
    # an entity tag is compared as a string (RFC 9110 8.8.3.2): "01" is not the ETag "1"
    case(412, "PATCH", "/v1/departments/sales", "rename-if-match-leading-zero",
         json={"name": "Sales EMEA"}, headers={"If-Match": '"01"'}),
    # the empty entity tag, which werkzeug reads as no tag at all (it was a 500)
    case(412, "PATCH", "/v1/departments/sales", "rename-empty-if-match",
         json={"name": "Sales EMEA"}, headers={"If-Match": '""'}),
    case(412, "PATCH", f"/v1/cycles/{CYCLE}", "change-cycle-empty-if-match",
         json={"name": "Q4"}, headers={"If-Match": '""'}),
    case(412, "PATCH", "/v1/departments/sales", "rename-if-match-not-a-version",
         json={"name": "Sales EMEA"}, headers={"If-Match": '"abc"'}),
    case(412, "PATCH", "/v1/departments/sales", "rename-weak-if-match",
         json={"name": "Sales EMEA"}, headers={"If-Match": 'W/"1"'}),
    case(412, "PATCH", "/v1/departments/sales", "rename-two-if-match-tags",
         json={"name": "Sales EMEA"}, headers={"If-Match": '"1", "2"'}),
    case(412, "PATCH", f"/v1/cycles/{CYCLE}", "change-cycle-stale-if-match",
         json={"name": "Q4"}, headers={"If-Match": '"5"'}),
    case(412, "PATCH", f"/v1/cycles/{CYCLE}", "change-cycle-huge-if-match",
         json={"name": "Q4"}, headers={"If-Match": '"99999999999999999999999"'}),
    # 405: the route exists, the method does not
    case(405, "PUT", "/v1/departments", "put-departments", json={"key": "legal",
                                                                 "name": "Legal"}),
    case(405, "DELETE", "/v1/departments", "delete-departments"),
    case(405, "PUT", "/v1/departments/sales", "put-department", json={"name": "Sales"}),
    case(405, "DELETE", "/v1/departments/sales", "delete-department"),
    case(405, "POST", "/v1/departments/sales", "post-department", json={"name": "Sales"}),
    case(405, "DELETE", "/v1/cycles", "delete-cycles"),
    case(405, "DELETE", f"/v1/cycles/{CYCLE}", "delete-cycle"),
    case(405, "PUT", f"/v1/cycles/{CYCLE}", "put-cycle", json={"name": "Q4"}),
    case(405, "DELETE", "/v1/tokens", "delete-tokens"),
    case(405, "GET", "/v1/tokens/{viewer_id}", "get-token"),
    case(405, "PATCH", "/v1/tokens/{viewer_id}", "patch-token", json={"name": "x"}),
    case(405, "POST", "/v1/audit", "post-audit", json={"action": "forged"}),
    case(405, "DELETE", "/v1/audit", "delete-audit"),
    case(405, "PATCH", "/v1/audit", "patch-audit", json={}),
]


def _caller(api: ApiClient, world: World, caller: str) -> tuple[ApiClient, dict[str, str]]:
    """The client for ``caller`` and the headers it adds."""
    tokens = {"admin": api.token, "viewer": world.viewer, "head": world.head,
              "revoked": world.revoked, "unknown": "okr_no-such-token-at-all"}
    if caller in tokens:
        return api.as_token(tokens[caller]), {}
    anonymous = api.as_token(None)
    if caller == "none":
        return anonymous, {}
    if caller == "basic-scheme":
        return anonymous, {"Authorization": "Basic YWRtaW46YWRtaW4="}
    if caller == "empty-bearer":
        return anonymous, {"Authorization": "Bearer   "}
    raise AssertionError(caller)


@pytest.mark.parametrize(
    ("caller", "method", "path", "kwargs", "status"),
    AUTHENTICATION_CASES + FORBIDDEN_CASES + MALFORMED_JSON_CASES + NOT_AN_OBJECT_CASES
    + VALIDATION_CASES + NUL_CASES + STATE_CASES,
)
def test_a_refused_request_is_a_problem_and_changes_nothing(
    api: ApiClient, world: World, goals: Goals, caller: str, method: str, path: str,
    kwargs: dict[str, Any], status: int,
) -> None:
    client, headers = _caller(api, world, caller)
    kwargs = dict(kwargs)
    headers.update(kwargs.pop("headers", {}))
    before = snapshot(goals)

    response = client.request(method, path.format(**vars(world)), headers=headers, **kwargs)

    body = assert_problem(response, status)
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if status == 422:
        assert isinstance(body.get("errors"), dict) and body["errors"], body
    if status == 405:
        assert method not in response.headers["Allow"]
    assert snapshot(goals) == before
