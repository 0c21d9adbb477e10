"""Who may write what: every write route x every kind of caller x items of several owners.

The rules (``services/goals/service_layer``):

* departments, cycles and tokens: admin only;
* a department objective and its key results: admin, or the head of that department;
* a collective target (several departments) and its key results: admin only;
* check-ins: admin, the head of the key result's department, or for a collective target's
  key result the head of any co-owning department;
* contributions: a head must own the child (its department's objective or key result) and
  the parent must be an objective its department owns or co-owns; removal needs the same,
  so a head cannot detach an edge it could not have made;
* links: a head must own the source department; removal follows the same rule;
* deleting an objective or key result takes the contributions touching it along, whoever
  made them: its writer may delete it even when it is attached where the writer could not
  have attached it;
* viewers write nothing; without a token, or with a revoked one: 401.

Items are named by their owning departments: ``sales`` is the sales head's own, ``finance``
belongs to neither head, ``sales+marketing`` is a collective target both heads co-own.
Contributions and links name both ends (``child→parent``, ``source→target``); ``KR`` means
the end is a key result (a summing one when it is a contribution's parent).

An update is shown for each field it may change (``sales: unit``), a deletion's item may
name an edge attached by the admin (``sales→marketing+finance``: the child is deleted).

Each caller gets a fresh target for its request once a previous caller's write succeeded;
a refused write must leave the outbox and the audit log exactly as they were, and a head's
successful write must only touch its own department's entries.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from services.goals.adapters import tables
from services.goals.entrypoints.api.goal_schemas import (
    KeyResultUpdateSchema,
    ObjectiveUpdateSchema,
)
from tests.platform.contract.conftest import CYCLE, Builder, Callers, Outbox

ROLES = ("admin", "sales_head", "marketing_head", "viewer", "anonymous", "revoked")
HEAD_DEPARTMENT = {"sales_head": "sales", "marketing_head": "marketing"}
IF_MATCH_1 = {"If-Match": '"1"'}


@dataclass
class Request:
    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Prepare = Callable[[Builder, str], Request]


def _departments(item: str) -> list[str]:
    return item.removesuffix(" KR").split("+")


def _end(b: Builder, item: str, *, summing: bool = False) -> dict[str, Any]:
    """An objective owned by ``item``'s departments, or its key result if ``item`` ends in KR."""
    objective = b.objective(item.removesuffix(" KR"))
    if not item.endswith(" KR"):
        return objective
    return b.key_result(objective["id"], **({"aggregation": "sum"} if summing else {}))


def _ends(item: str) -> tuple[str, str, str | None]:
    """'sales+marketing (as sales)→finance' -> ('sales+marketing', 'finance', 'sales')."""
    source, target = item.split("→")
    source, _, chosen = source.partition(" (as ")
    return source, target, chosen.removesuffix(")") or None


def _kind(departments: list[str]) -> str:
    return "collective" if len(departments) > 1 else "department"


def _attached(b: Builder, item: str) -> dict[str, Any]:
    """``item``'s objective or key result; for 'child→parent', the child, which the admin
    attached to the parent."""
    child_item, arrow, parent_item = item.partition("→")
    child = _end(b, child_item)
    if arrow:
        b.contribution(child, _end(b, parent_item, summing=True))
    return child


#: A new value for each field an update may change.
OBJECTIVE_CHANGES = {"title": "changed", "description": "new", "owner": "Kim",
                     "status": "archived"}
KEY_RESULT_CHANGES = {"title": "changed", "start": 10, "target": 50, "unit": "USD",
                      "weight": 2}


def _changed(item: str, changes: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """'sales: unit' -> ('sales', {'unit': 'USD'})."""
    owner, _, name = item.partition(": ")
    return owner, {name: changes[name]}


# -- how to build a target and its request, per write route ------------------------------------

def create_department(b: Builder, item: str) -> Request:
    return Request("POST", "/v1/departments", {"key": f"dept-{b.serial()}", "name": "New"})


def rename_department(b: Builder, item: str) -> Request:
    path = f"/v1/departments/{item}"
    return Request("PATCH", path, {"name": f"Renamed {b.serial()}"},
                   {"If-Match": b.version(path)})


def create_cycle(b: Builder, item: str) -> Request:
    return Request("POST", "/v1/cycles", {"key": f"C-{b.serial()}", "starts_on": "2027-01-01",
                                          "ends_on": "2027-03-31"})


def change_cycle(b: Builder, item: str) -> Request:
    path = f"/v1/cycles/{CYCLE}"
    return Request("PATCH", path, {"name": f"Q4 {b.serial()}"}, {"If-Match": b.version(path)})


def mint_token(b: Builder, item: str) -> Request:
    return Request("POST", "/v1/tokens", {"name": "bi", "role": "head", "department": item})


def revoke_token(b: Builder, item: str) -> Request:
    return Request("DELETE", f"/v1/tokens/{b.token('head', item)['id']}")


def create_objective(b: Builder, item: str) -> Request:
    departments = _departments(item)
    return Request("POST", "/v1/objectives", {"cycle": CYCLE, "kind": _kind(departments),
                                              "departments": departments, "owner": "o",
                                              "title": "t"})


def change_objective(b: Builder, item: str) -> Request:
    owner, body = _changed(item, OBJECTIVE_CHANGES)
    return Request("PATCH", f"/v1/objectives/{b.objective(owner)['id']}", body,
                   dict(IF_MATCH_1))


def delete_objective(b: Builder, item: str) -> Request:
    return Request("DELETE", f"/v1/objectives/{_attached(b, item)['id']}", None,
                   dict(IF_MATCH_1))


def add_key_result(b: Builder, item: str) -> Request:
    return Request("POST", f"/v1/objectives/{b.objective(item)['id']}/key-results",
                   {"title": "t", "measure": "boolean"})


def change_key_result(b: Builder, item: str) -> Request:
    owner, body = _changed(item, KEY_RESULT_CHANGES)
    return Request("PATCH", f"/v1/key-results/{_end(b, owner + ' KR')['id']}", body,
                   dict(IF_MATCH_1))


def delete_key_result(b: Builder, item: str) -> Request:
    key_result = _attached(b, item if item.endswith(" KR") else item + " KR")
    return Request("DELETE", f"/v1/key-results/{key_result['id']}", None, dict(IF_MATCH_1))


def check_in(b: Builder, item: str) -> Request:
    return Request("POST", f"/v1/key-results/{_end(b, item + ' KR')['id']}/check-ins",
                   {"value": 7, "confidence": 0.5})


def check_in_batch(b: Builder, item: str) -> Request:
    return Request("POST", "/v1/check-ins/batch",
                   {"items": [{"key_result_id": _end(b, item + " KR")["id"], "value": 7}]})


def add_contribution(b: Builder, item: str) -> Request:
    child_item, parent_item, _ = _ends(item)
    child, parent = _end(b, child_item), _end(b, parent_item, summing=True)
    return Request("POST", "/v1/contributions", {
        "child_type": "key_result" if child_item.endswith("KR") else "objective",
        "child_id": child["id"],
        "parent_type": "key_result" if parent_item.endswith("KR") else "objective",
        "parent_id": parent["id"]})


def remove_contribution(b: Builder, item: str) -> Request:
    child_item, parent_item, _ = _ends(item)
    contribution = b.contribution(_end(b, child_item), _end(b, parent_item, summing=True))
    return Request("DELETE", f"/v1/contributions/{contribution['id']}")


def create_link(b: Builder, item: str) -> Request:
    source_item, target_item, chosen = _ends(item)
    body = {"kind": "depends_on", "from_type": "objective",
            "from_id": _end(b, source_item)["id"], "to_type": "objective",
            "to_id": _end(b, target_item)["id"]}
    if chosen:
        body["from_department"] = chosen
    return Request("POST", "/v1/links", body)


def remove_link(b: Builder, item: str) -> Request:
    source_item, target_item, chosen = _ends(item)
    departments = {"from_department": chosen} if chosen else {}
    link = b.link(_end(b, source_item), _end(b, target_item), **departments)
    return Request("DELETE", f"/v1/links/{link['id']}")


ROUTES: dict[str, Prepare] = {
    "POST /v1/departments": create_department,
    "PATCH /v1/departments/{key}": rename_department,
    "POST /v1/cycles": create_cycle,
    "PATCH /v1/cycles/{key}": change_cycle,
    "POST /v1/tokens": mint_token,
    "DELETE /v1/tokens/{id}": revoke_token,
    "POST /v1/objectives": create_objective,
    "PATCH /v1/objectives/{id}": change_objective,
    "DELETE /v1/objectives/{id}": delete_objective,
    "POST /v1/objectives/{id}/key-results": add_key_result,
    "PATCH /v1/key-results/{id}": change_key_result,
    "DELETE /v1/key-results/{id}": delete_key_result,
    "POST /v1/key-results/{id}/check-ins": check_in,
    "POST /v1/check-ins/batch": check_in_batch,  # 200; the status shown is the item's
    "POST /v1/contributions": add_contribution,
    "DELETE /v1/contributions/{id}": remove_contribution,
    "POST /v1/links": create_link,
    "DELETE /v1/links/{id}": remove_link,
}

R = (403, 401, 401)
"""The last three columns: a viewer may write nothing (403); no token or a revoked one: 401."""

MATRIX = [
    # route                                  item                        (admin, head of sales,
    #                                                                     head of marketing, *R)
    ("POST /v1/departments",                 "-",                          (201, 403, 403, *R)),
    ("PATCH /v1/departments/{key}",          "sales",                      (200, 403, 403, *R)),
    ("PATCH /v1/departments/{key}",          "finance",                    (200, 403, 403, *R)),
    ("POST /v1/cycles",                      "-",                          (201, 403, 403, *R)),
    ("PATCH /v1/cycles/{key}",               "-",                          (200, 403, 403, *R)),
    ("POST /v1/tokens",                      "sales",                      (201, 403, 403, *R)),
    ("DELETE /v1/tokens/{id}",               "sales",                      (204, 403, 403, *R)),
    ("POST /v1/objectives",                  "sales",                      (201, 201, 403, *R)),
    ("POST /v1/objectives",                  "finance",                    (201, 403, 403, *R)),
    ("POST /v1/objectives",                  "sales+marketing",            (201, 403, 403, *R)),
    ("PATCH /v1/objectives/{id}",            "sales: title",               (200, 200, 403, *R)),
    ("PATCH /v1/objectives/{id}",            "finance: title",             (200, 403, 403, *R)),
    ("PATCH /v1/objectives/{id}",            "sales+marketing: title",     (200, 403, 403, *R)),
    ("PATCH /v1/objectives/{id}",            "sales: description",         (200, 200, 403, *R)),
    ("PATCH /v1/objectives/{id}",            "sales: owner",               (200, 200, 403, *R)),
    ("PATCH /v1/objectives/{id}",            "sales: status",              (200, 200, 403, *R)),
    ("DELETE /v1/objectives/{id}",           "sales",                      (204, 204, 403, *R)),
    ("DELETE /v1/objectives/{id}",           "finance",                    (204, 403, 403, *R)),
    ("DELETE /v1/objectives/{id}",           "sales+marketing",            (204, 403, 403, *R)),
    # the edge goes with its child, although the head could not have attached it
    ("DELETE /v1/objectives/{id}",           "sales→marketing+finance",    (204, 204, 403, *R)),
    ("POST /v1/objectives/{id}/key-results", "sales",                      (201, 201, 403, *R)),
    ("POST /v1/objectives/{id}/key-results", "finance",                    (201, 403, 403, *R)),
    ("POST /v1/objectives/{id}/key-results", "sales+marketing",            (201, 403, 403, *R)),
    ("PATCH /v1/key-results/{id}",           "sales: weight",              (200, 200, 403, *R)),
    ("PATCH /v1/key-results/{id}",           "finance: weight",            (200, 403, 403, *R)),
    ("PATCH /v1/key-results/{id}",           "sales+marketing: weight",    (200, 403, 403, *R)),
    ("PATCH /v1/key-results/{id}",           "sales: title",               (200, 200, 403, *R)),
    ("PATCH /v1/key-results/{id}",           "sales: start",               (200, 200, 403, *R)),
    ("PATCH /v1/key-results/{id}",           "sales: target",              (200, 200, 403, *R)),
    ("PATCH /v1/key-results/{id}",           "sales: unit",                (200, 200, 403, *R)),
    ("DELETE /v1/key-results/{id}",          "sales",                      (204, 204, 403, *R)),
    ("DELETE /v1/key-results/{id}",          "finance",                    (204, 403, 403, *R)),
    ("DELETE /v1/key-results/{id}",          "sales+marketing",            (204, 403, 403, *R)),
    ("DELETE /v1/key-results/{id}",          "sales KR→marketing+finance KR",
                                                                           (204, 204, 403, *R)),
    ("POST /v1/key-results/{id}/check-ins",  "sales",                      (201, 201, 403, *R)),
    ("POST /v1/key-results/{id}/check-ins",  "finance",                    (201, 403, 403, *R)),
    ("POST /v1/key-results/{id}/check-ins",  "sales+marketing",            (201, 201, 201, *R)),
    ("POST /v1/check-ins/batch",             "sales",                      (201, 201, 403, *R)),
    ("POST /v1/check-ins/batch",             "finance",                    (201, 403, 403, *R)),
    ("POST /v1/check-ins/batch",             "sales+marketing",            (201, 201, 201, *R)),
    ("POST /v1/contributions",               "sales→sales+marketing",      (201, 201, 403, *R)),
    ("POST /v1/contributions",               "finance→sales+marketing",    (201, 403, 403, *R)),
    ("POST /v1/contributions",               "sales→marketing+finance",    (201, 403, 403, *R)),
    ("POST /v1/contributions",               "sales+marketing→sales+marketing+finance",
                                                                           (201, 403, 403, *R)),
    ("POST /v1/contributions",               "sales KR→sales+marketing KR",
                                                                           (201, 201, 403, *R)),
    ("POST /v1/contributions",               "marketing KR→sales KR",      (201, 403, 403, *R)),
    ("DELETE /v1/contributions/{id}",        "sales→sales+marketing",      (204, 204, 403, *R)),
    ("DELETE /v1/contributions/{id}",        "finance→sales+marketing",    (204, 403, 403, *R)),
    # a head detaches only what it could attach: not from a target it does not co-own
    ("DELETE /v1/contributions/{id}",        "sales→marketing+finance",    (204, 403, 403, *R)),
    ("DELETE /v1/contributions/{id}",        "sales+marketing→sales+marketing+finance",
                                                                           (204, 403, 403, *R)),
    ("DELETE /v1/contributions/{id}",        "sales KR→sales+marketing KR",
                                                                           (204, 204, 403, *R)),
    ("DELETE /v1/contributions/{id}",        "marketing KR→sales KR",      (204, 403, 403, *R)),
    ("POST /v1/links",                       "sales→finance",              (201, 201, 403, *R)),
    ("POST /v1/links",                       "finance→sales",              (201, 403, 403, *R)),
    ("POST /v1/links",                       "sales+marketing (as sales)→finance",
                                                                           (201, 201, 403, *R)),
    ("DELETE /v1/links/{id}",                "sales→finance",              (204, 204, 403, *R)),
    ("DELETE /v1/links/{id}",                "finance→sales",              (204, 403, 403, *R)),
    ("DELETE /v1/links/{id}",                "sales+marketing (as marketing)→finance",
                                                                           (204, 403, 204, *R)),
    ("DELETE /v1/links/{id}",                "sales+marketing (as sales)→finance",
                                                                           (204, 204, 403, *R)),
]


def _status(route: str, response: Any) -> int:
    if route == "POST /v1/check-ins/batch" and response.status_code == 200:
        (result,) = response.get_json()["results"]
        return int(result["status"])
    return int(response.status_code)


def _audited_departments(outbox: Outbox, counts: tuple[int, int]) -> list[str | None]:
    """The departments of the audit entries added since ``counts`` were taken."""
    audit = tables.audit_log
    with outbox.goals.engine.connect() as connection:
        rows = connection.execute(select(audit.c.department_key)
                                  .order_by(audit.c.id).offset(counts[1]))
        return [row.department_key for row in rows]


def test_every_write_route_is_in_the_matrix(_one_goals_app: Flask) -> None:
    assert {route for route, _, _ in MATRIX} == set(ROUTES)
    served = {f"{method} {re.sub(r'<[^>]+>', '{}', rule.rule)}"
              for rule in _one_goals_app.url_map.iter_rules()
              for method in (rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}}
    assert served == {re.sub(r"\{\w+\}", "{}", route) for route in ROUTES}


@pytest.mark.parametrize(("route", "schema", "changes"), [
    ("PATCH /v1/objectives/{id}", ObjectiveUpdateSchema, OBJECTIVE_CHANGES),
    ("PATCH /v1/key-results/{id}", KeyResultUpdateSchema, KEY_RESULT_CHANGES),
])
def test_every_changeable_field_is_in_the_matrix(route: str, schema: type[Any],
                                                 changes: dict[str, Any]) -> None:
    fields = set(schema().fields)
    assert set(changes) == fields
    shown = {item.partition(": ")[2] for r, item, _ in MATRIX if r == route}
    assert fields <= shown, f"{route}: no row for {fields - shown}"


@pytest.mark.parametrize(("route", "item", "expected"), [
    pytest.param(route, item, expected, id=f"{route} [{item}]")
    for route, item, expected in MATRIX])
def test_who_may_write_what(route: str, item: str, expected: tuple[int, ...],
                            callers: Callers, build: Builder, outbox: Outbox) -> None:
    prepare = ROUTES[route]
    request: Request | None = None
    outcomes = {}
    for role in ROLES:
        request = request or prepare(build, item)
        counts = outbox.counts()
        response = callers.named(role).request(request.method, request.path, json=request.body,
                                               headers=request.headers)
        outcomes[role] = _status(route, response)
        if outcomes[role] >= 400:
            assert outbox.counts() == counts, f"{role}'s refused write changed something"
            continue
        request = None  # the target has changed: the next caller gets a fresh one
        if role in HEAD_DEPARTMENT:
            for departments in _audited_departments(outbox, counts):
                assert departments is not None
                assert HEAD_DEPARTMENT[role] in departments.split("+"), (
                    f"{role} wrote an entry of {departments}")
    assert outcomes == dict(zip(ROLES, expected, strict=True))
