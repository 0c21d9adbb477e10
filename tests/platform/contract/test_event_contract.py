"""Every write of the goals API adds exactly its documented events to the outbox.

For each write route: the request adds exactly the expected event types, in the outbox of
its own transaction; each event's envelope parses as a CloudEvent, its ``data`` validates
against the JSON Schema of its type (``shared/contract/schemas/``), its topic is
``okr.goals.v1``, and its Kafka key is the id of the objective whose roll-up tree it
concerns:

* objective events: the objective's id;
* key result and check-in events: the id of the key result's objective;
* contribution events: the id of the parent's objective (the parent itself, or the
  objective of a summing parent key result);
* link events: the id of the source item's objective;
* department and cycle events: their key.

Cascading deletes emit one event per removed item, in this order within the transaction:
``contribution.removed`` and ``link.removed`` for every edge touching the deleted items
(each keyed as above, so possibly by another objective's id), then ``key_result.deleted``
for each key result, then ``objective.deleted``.

A refused write (403, 404, 409, 412, 422, 428) adds nothing: no event, no audit entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.cloudevents import parse_event
from shared.contract import EventType, Topic
from shared.contract.schemas import validate_event_data
from shared.web.problems import PROBLEM_CONTENT_TYPE
from tests.platform.contract.conftest import CYCLE, OTHER_CYCLE, Builder, Callers, Outbox, OutboxRow

NEW = "<id of the created item>"
"""Stands for the id the response reports, in expected keys and subjects."""

MISSING = "00000000-0000-4000-8000-000000000000"


@dataclass
class Write:
    """One request, and the events it must add: (event type, Kafka key, subject)."""

    method: str
    path: str
    status: int
    events: list[tuple[EventType, str, str]]
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    caller: str = "admin"


Scenario = Callable[[Builder], Write]

#: Within one transaction, edges go first, then key results, then the objective.
CASCADE_RANK = {EventType.CONTRIBUTION_REMOVED: 0, EventType.LINK_REMOVED: 0,
                EventType.KEY_RESULT_DELETED: 1, EventType.OBJECTIVE_DELETED: 2}


def send(callers: Callers, write: Write) -> Any:
    client = callers.named(write.caller)
    return client.request(write.method, write.path, json=write.body, headers=write.headers)


def check_envelope(row: OutboxRow) -> tuple[EventType, str, str]:
    """The row's event is a valid CloudEvent whose data matches its schema and its key."""
    assert row.topic == Topic.GOALS.value
    event = parse_event(row.payload)
    assert (event.id, event.type) == (row.event_id, row.event_type)
    assert event.source == "/okr/goals"
    validate_event_data(event.type, event.data)
    event_type = EventType(event.type)
    item = event.data["key_result"] if event_type is EventType.KEY_RESULT_CHECKED_IN else event.data
    item_kind, _, item_key = event.subject.partition("/")
    assert item_key == item.get("id", item.get("key")), (event.subject, item)
    assert item_kind == event_type.value.split(".")[1]
    # The key follows from the data wherever the data names the objective.
    if item_kind == "objective":
        assert row.key == item["id"]
    elif item_kind == "key_result":
        assert row.key == item["objective_id"]
    elif item_kind in ("department", "cycle"):
        assert row.key == item["key"]
    return event_type, row.key, event.subject


# -- the scenarios: one per write route and case ---------------------------------------------

def create_department(b: Builder) -> Write:
    return Write("POST", "/v1/departments", 201,
                 [(EventType.DEPARTMENT_CREATED, "legal", "department/legal")],
                 body={"key": "legal", "name": "Legal"})


def rename_department(b: Builder) -> Write:
    return Write("PATCH", "/v1/departments/sales", 200,
                 [(EventType.DEPARTMENT_UPDATED, "sales", "department/sales")],
                 body={"name": "Sales EMEA"},
                 headers={"If-Match": b.version("/v1/departments/sales")})


def create_cycle(b: Builder) -> Write:
    return Write("POST", "/v1/cycles", 201,
                 [(EventType.CYCLE_CREATED, "2027-Q2", "cycle/2027-Q2")],
                 body={"key": "2027-Q2", "starts_on": "2027-04-01", "ends_on": "2027-06-30"})


def change_cycle(b: Builder) -> Write:
    return Write("PATCH", f"/v1/cycles/{CYCLE}", 200,
                 [(EventType.CYCLE_UPDATED, CYCLE, f"cycle/{CYCLE}")],
                 body={"name": "Q4", "ends_on": "2027-01-15"},
                 headers={"If-Match": b.version(f"/v1/cycles/{CYCLE}")})


def mint_token(b: Builder) -> Write:
    # Tokens are not goals: minting one is audited but publishes no event.
    return Write("POST", "/v1/tokens", 201, [], body={"name": "crm", "role": "viewer"})


def revoke_token(b: Builder) -> Write:
    return Write("DELETE", f"/v1/tokens/{b.token('viewer')['id']}", 204, [])


def create_department_objective(b: Builder) -> Write:
    return Write("POST", "/v1/objectives", 201,
                 [(EventType.OBJECTIVE_CREATED, NEW, f"objective/{NEW}")],
                 body={"cycle": CYCLE, "kind": "department", "departments": ["sales"],
                       "owner": "Sam", "title": "Win the north", "description": "Two\nlines"},
                 caller="sales_head")


def create_collective_objective(b: Builder) -> Write:
    return Write("POST", "/v1/objectives", 201,
                 [(EventType.OBJECTIVE_CREATED, NEW, f"objective/{NEW}")],
                 body={"cycle": CYCLE, "kind": "collective",
                       "departments": ["sales", "marketing"], "owner": "CEO",
                       "title": "New revenue"})


def change_objective(b: Builder) -> Write:
    objective = b.objective("sales")
    return Write("PATCH", f"/v1/objectives/{objective['id']}", 200,
                 [(EventType.OBJECTIVE_UPDATED, objective["id"], f"objective/{objective['id']}")],
                 body={"title": "Renamed", "status": "archived"}, headers={"If-Match": '"1"'},
                 caller="sales_head")


def delete_objective(b: Builder) -> Write:
    objective = b.objective("sales")
    return Write("DELETE", f"/v1/objectives/{objective['id']}", 204,
                 [(EventType.OBJECTIVE_DELETED, objective["id"], f"objective/{objective['id']}")],
                 headers={"If-Match": '"1"'}, caller="sales_head")


def delete_objective_with_everything_touching_it(b: Builder) -> Write:
    """The objective, its two key results, two contributions and two links go together."""
    objective, collective, finance = b.objective("sales"), b.objective("sales+marketing"), \
        b.objective("finance")
    first, second = b.key_result(objective["id"]), b.key_result(objective["id"])
    summing = b.key_result(collective["id"], aggregation="sum")
    up = b.contribution(objective, collective)  # keyed by the collective target
    added = b.contribution(first, summing)  # keyed by the summing key result's objective
    outgoing = b.link(second, finance)  # keyed by the deleted objective
    incoming = b.link(finance, objective, kind="funded_by")  # keyed by finance's objective
    o, c, f = objective["id"], collective["id"], finance["id"]
    return Write("DELETE", f"/v1/objectives/{o}", 204, [
        (EventType.CONTRIBUTION_REMOVED, c, f"contribution/{up['id']}"),
        (EventType.CONTRIBUTION_REMOVED, c, f"contribution/{added['id']}"),
        (EventType.LINK_REMOVED, o, f"link/{outgoing['id']}"),
        (EventType.LINK_REMOVED, f, f"link/{incoming['id']}"),
        (EventType.KEY_RESULT_DELETED, o, f"key_result/{first['id']}"),
        (EventType.KEY_RESULT_DELETED, o, f"key_result/{second['id']}"),
        (EventType.OBJECTIVE_DELETED, o, f"objective/{o}"),
    ], headers={"If-Match": '"1"'})


def add_key_result(b: Builder) -> Write:
    objective = b.objective("sales")
    return Write("POST", f"/v1/objectives/{objective['id']}/key-results", 201,
                 [(EventType.KEY_RESULT_CREATED, objective["id"], f"key_result/{NEW}")],
                 body={"title": "Pipeline", "measure": "decrease", "start": 30, "target": 10,
                       "unit": "days", "weight": 2}, caller="sales_head")


def add_boolean_key_result_to_collective_target(b: Builder) -> Write:
    collective = b.objective("sales+marketing")
    return Write("POST", f"/v1/objectives/{collective['id']}/key-results", 201,
                 [(EventType.KEY_RESULT_CREATED, collective["id"], f"key_result/{NEW}")],
                 body={"title": "Joint launch", "measure": "boolean"})


def add_summing_key_result(b: Builder) -> Write:
    collective = b.objective("sales+marketing")
    return Write("POST", f"/v1/objectives/{collective['id']}/key-results", 201,
                 [(EventType.KEY_RESULT_CREATED, collective["id"], f"key_result/{NEW}")],
                 body={"title": "New revenue", "measure": "increase", "start": 0,
                       "target": 1_000_000, "unit": "EUR", "aggregation": "sum"})


def change_key_result(b: Builder) -> Write:
    objective = b.objective("sales")
    key_result = b.key_result(objective["id"])
    return Write("PATCH", f"/v1/key-results/{key_result['id']}", 200,
                 [(EventType.KEY_RESULT_UPDATED, objective["id"],
                   f"key_result/{key_result['id']}")],
                 body={"target": 250, "weight": 0}, headers={"If-Match": '"1"'},
                 caller="sales_head")


def delete_key_result_with_its_edges(b: Builder) -> Write:
    objective, collective, finance = b.objective("sales"), b.objective("sales+marketing"), \
        b.objective("finance")
    key_result = b.key_result(objective["id"])
    summing = b.key_result(collective["id"], aggregation="sum")
    added = b.contribution(key_result, summing)
    link = b.link(key_result, finance, kind="supplied_by")
    return Write("DELETE", f"/v1/key-results/{key_result['id']}", 204, [
        (EventType.CONTRIBUTION_REMOVED, collective["id"], f"contribution/{added['id']}"),
        (EventType.LINK_REMOVED, objective["id"], f"link/{link['id']}"),
        (EventType.KEY_RESULT_DELETED, objective["id"], f"key_result/{key_result['id']}"),
    ], headers={"If-Match": '"1"'}, caller="sales_head")


def delete_summing_key_result_with_its_contributors(b: Builder) -> Write:
    objective, collective = b.objective("sales"), b.objective("sales+marketing")
    summing = b.key_result(collective["id"], aggregation="sum")
    added = b.contribution(b.key_result(objective["id"]), summing)
    return Write("DELETE", f"/v1/key-results/{summing['id']}", 204, [
        (EventType.CONTRIBUTION_REMOVED, collective["id"], f"contribution/{added['id']}"),
        (EventType.KEY_RESULT_DELETED, collective["id"], f"key_result/{summing['id']}"),
    ], headers={"If-Match": '"1"'})


def check_in(b: Builder) -> Write:
    objective = b.objective("sales")
    key_result = b.key_result(objective["id"])
    return Write("POST", f"/v1/key-results/{key_result['id']}/check-ins", 201,
                 [(EventType.KEY_RESULT_CHECKED_IN, objective["id"],
                   f"key_result/{key_result['id']}")],
                 body={"value": 42.5, "confidence": 0.7, "note": "good week"},
                 caller="sales_head")


def check_in_on_collective_target_by_co_owner(b: Builder) -> Write:
    collective = b.objective("sales+marketing")
    key_result = b.key_result(collective["id"], measure="boolean")
    return Write("POST", f"/v1/key-results/{key_result['id']}/check-ins", 201,
                 [(EventType.KEY_RESULT_CHECKED_IN, collective["id"],
                   f"key_result/{key_result['id']}")],
                 body={"value": True, "source": "system", "author": "crm"},
                 caller="marketing_head")


def check_in_batch(b: Builder) -> Write:
    """Two items apply (each keyed by its own objective), the third is refused (403)."""
    objective, collective, finance = b.objective("sales"), b.objective("sales+marketing"), \
        b.objective("finance")
    mine, shared, other = (b.key_result(objective["id"]), b.key_result(collective["id"]),
                           b.key_result(finance["id"]))
    return Write("POST", "/v1/check-ins/batch", 200, [
        (EventType.KEY_RESULT_CHECKED_IN, objective["id"], f"key_result/{mine['id']}"),
        (EventType.KEY_RESULT_CHECKED_IN, collective["id"], f"key_result/{shared['id']}"),
    ], body={"items": [{"key_result_id": mine["id"], "value": 10, "idempotency_key": "a"},
                       {"key_result_id": shared["id"], "value": 20, "confidence": 1},
                       {"key_result_id": other["id"], "value": 30}]},
        caller="sales_head")


def check_in_batch_repeating_an_idempotency_key(b: Builder) -> Write:
    """The second item reuses the first one's key with another value: refused, no event."""
    objective = b.objective("sales")
    key_result = b.key_result(objective["id"])
    return Write("POST", "/v1/check-ins/batch", 200, [
        (EventType.KEY_RESULT_CHECKED_IN, objective["id"], f"key_result/{key_result['id']}"),
    ], body={"items": [{"key_result_id": key_result["id"], "value": 1, "idempotency_key": "x"},
                       {"key_result_id": key_result["id"], "value": 2,
                        "idempotency_key": "x"}]})


def add_contribution_to_collective_target(b: Builder) -> Write:
    objective, collective = b.objective("sales"), b.objective("sales+marketing")
    return Write("POST", "/v1/contributions", 201,
                 [(EventType.CONTRIBUTION_ADDED, collective["id"], f"contribution/{NEW}")],
                 body={"child_type": "objective", "child_id": objective["id"],
                       "parent_type": "objective", "parent_id": collective["id"],
                       "weight": 3}, caller="sales_head")


def add_contribution_to_summing_key_result(b: Builder) -> Write:
    objective, collective = b.objective("marketing"), b.objective("sales+marketing")
    key_result = b.key_result(objective["id"])
    summing = b.key_result(collective["id"], aggregation="sum")
    return Write("POST", "/v1/contributions", 201,
                 [(EventType.CONTRIBUTION_ADDED, collective["id"], f"contribution/{NEW}")],
                 body={"child_type": "key_result", "child_id": key_result["id"],
                       "parent_type": "key_result", "parent_id": summing["id"]},
                 caller="marketing_head")


def remove_contribution(b: Builder) -> Write:
    objective, collective = b.objective("sales"), b.objective("sales+marketing")
    contribution = b.contribution(objective, collective)
    return Write("DELETE", f"/v1/contributions/{contribution['id']}", 204,
                 [(EventType.CONTRIBUTION_REMOVED, collective["id"],
                   f"contribution/{contribution['id']}")], caller="sales_head")


def remove_contribution_to_summing_key_result(b: Builder) -> Write:
    objective, collective = b.objective("sales"), b.objective("sales+marketing")
    summing = b.key_result(collective["id"], aggregation="sum")
    contribution = b.contribution(b.key_result(objective["id"]), summing)
    return Write("DELETE", f"/v1/contributions/{contribution['id']}", 204,
                 [(EventType.CONTRIBUTION_REMOVED, collective["id"],
                   f"contribution/{contribution['id']}")])


def create_link(b: Builder) -> Write:
    objective, finance = b.objective("sales"), b.objective("finance")
    return Write("POST", "/v1/links", 201,
                 [(EventType.LINK_CREATED, objective["id"], f"link/{NEW}")],
                 body={"kind": "funded_by", "from_type": "objective", "from_id": objective["id"],
                       "to_type": "objective", "to_id": finance["id"], "note": "budget"},
                 caller="sales_head")


def create_link_from_key_result(b: Builder) -> Write:
    objective, production = b.objective("sales"), b.objective("production")
    key_result, target = b.key_result(objective["id"]), b.key_result(production["id"])
    return Write("POST", "/v1/links", 201,
                 [(EventType.LINK_CREATED, objective["id"], f"link/{NEW}")],
                 body={"kind": "supplied_by", "from_type": "key_result",
                       "from_id": key_result["id"], "to_type": "key_result",
                       "to_id": target["id"]}, caller="sales_head")


def create_link_from_collective_target(b: Builder) -> Write:
    collective, finance = b.objective("sales+marketing"), b.objective("finance")
    return Write("POST", "/v1/links", 201,
                 [(EventType.LINK_CREATED, collective["id"], f"link/{NEW}")],
                 body={"kind": "depends_on", "from_type": "objective", "from_id": collective["id"],
                       "to_type": "objective", "to_id": finance["id"]},
                 caller="marketing_head")


def remove_link(b: Builder) -> Write:
    objective, finance = b.objective("sales"), b.objective("finance")
    link = b.link(b.key_result(objective["id"]), finance, kind="blocked_by")
    return Write("DELETE", f"/v1/links/{link['id']}", 204,
                 [(EventType.LINK_REMOVED, objective["id"], f"link/{link['id']}")],
                 caller="sales_head")


WRITES: list[Scenario] = [
    create_department, rename_department, create_cycle, change_cycle, mint_token, revoke_token,
    create_department_objective, create_collective_objective, change_objective,
    delete_objective, delete_objective_with_everything_touching_it,
    add_key_result, add_boolean_key_result_to_collective_target, add_summing_key_result,
    change_key_result, delete_key_result_with_its_edges,
    delete_summing_key_result_with_its_contributors,
    check_in, check_in_on_collective_target_by_co_owner, check_in_batch,
    check_in_batch_repeating_an_idempotency_key,
    add_contribution_to_collective_target, add_contribution_to_summing_key_result,
    remove_contribution, remove_contribution_to_summing_key_result,
    create_link, create_link_from_key_result, create_link_from_collective_target, remove_link,
]


@pytest.mark.parametrize("scenario", WRITES, ids=lambda scenario: scenario.__name__)
def test_write_adds_exactly_its_documented_events(
    scenario: Scenario, callers: Callers, build: Builder, outbox: Outbox
) -> None:
    write = scenario(build)
    mark = outbox.mark()

    response = send(callers, write)

    assert response.status_code == write.status, response.get_data(as_text=True)
    created = (response.get_json(silent=True) or {}).get("id", NEW)
    expected = [(event_type, key.replace(NEW, created), subject.replace(NEW, created))
                for event_type, key, subject in write.events]
    actual = [check_envelope(row) for row in outbox.since(mark)]
    assert sorted(actual) == sorted(expected)
    ranks = [CASCADE_RANK.get(event_type, 0) for event_type, _, _ in actual]
    assert ranks == sorted(ranks), actual


def test_check_in_replayed_by_its_idempotency_key_adds_no_event(
    callers: Callers, build: Builder, outbox: Outbox
) -> None:
    key_result = build.key_result(build.objective("sales")["id"])
    path = f"/v1/key-results/{key_result['id']}/check-ins"
    headers = {"Idempotency-Key": "crm-run-7"}
    first = callers.sales_head.post(path, json={"value": 5}, headers=headers)
    assert first.status_code == 201
    mark = outbox.mark()

    again = callers.sales_head.post(path, json={"value": 5}, headers=headers)

    assert again.status_code == 200
    assert outbox.since(mark) == []


# -- refused writes add nothing --------------------------------------------------------------

def _refusal(status: int, method: str, path: Callable[[Builder], str] | str, *,
             body: Callable[[Builder], Any] | Any = None, if_match: str | None = None,
             caller: str = "admin", idempotency_key: str | None = None) -> Scenario:
    def scenario(b: Builder) -> Write:
        headers = {"If-Match": if_match} if if_match else {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return Write(method, path(b) if callable(path) else path, status, [],
                     body=body(b) if callable(body) else body, headers=headers, caller=caller)
    return scenario


def _contribution_body(child: str, parent: str, *, child_cycle: str = CYCLE,
                       parent_cycle: str = CYCLE) -> Callable[[Builder], dict[str, Any]]:
    def body(b: Builder) -> dict[str, Any]:
        return {"child_type": "objective", "child_id": b.objective(child, child_cycle)["id"],
                "parent_type": "objective",
                "parent_id": b.objective(parent, parent_cycle)["id"]}
    return body


def _existing_contribution(b: Builder) -> dict[str, Any]:
    child, parent = b.objective("sales"), b.objective("sales+marketing")
    b.contribution(child, parent)
    return {"child_type": "objective", "child_id": child["id"], "parent_type": "objective",
            "parent_id": parent["id"]}


def _cycle_closing_contribution(b: Builder) -> dict[str, Any]:
    lower, upper = b.objective("sales+marketing"), b.objective("sales+finance")
    b.contribution(lower, upper)
    return {"child_type": "objective", "child_id": upper["id"], "parent_type": "objective",
            "parent_id": lower["id"]}


def _existing_link(b: Builder) -> dict[str, Any]:
    source, target = b.objective("sales"), b.objective("finance")
    b.link(source, target)
    return {"kind": "depends_on", "from_type": "objective", "from_id": source["id"],
            "to_type": "objective", "to_id": target["id"]}


def _link_body(source: str, target: str) -> Callable[[Builder], dict[str, Any]]:
    def body(b: Builder) -> dict[str, Any]:
        return {"kind": "supports", "from_type": "objective", "from_id": b.objective(source)["id"],
                "to_type": "objective", "to_id": b.objective(target)["id"]}
    return body


def _objective(departments: str) -> Callable[[Builder], str]:
    return lambda b: f"/v1/objectives/{b.objective(departments)['id']}"


def _key_result(departments: str, **fields: Any) -> Callable[[Builder], str]:
    def path(b: Builder) -> str:
        return f"/v1/key-results/{b.key_result(b.objective(departments)['id'], **fields)['id']}"
    return path


def _check_ins(departments: str, **fields: Any) -> Callable[[Builder], str]:
    return lambda b: _key_result(departments, **fields)(b) + "/check-ins"


def _check_in_then_reuse_key(b: Builder) -> str:
    path = _check_ins("sales")(b)
    first = b.admin.post(path, json={"value": 1}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    return path


def _contribution_path(b: Builder) -> str:
    contribution = b.contribution(b.objective("sales"), b.objective("sales+marketing"))
    return f"/v1/contributions/{contribution['id']}"


def _link_path(b: Builder) -> str:
    return f"/v1/links/{b.link(b.objective('sales'), b.objective('finance'))['id']}"


KR = {"title": "t", "measure": "increase", "start": 0, "target": 10, "unit": "EUR"}

REFUSALS: list[Any] = [
    # 403: the caller may not write this item
    pytest.param(_refusal(403, "POST", "/v1/objectives", caller="sales_head", body={
        "cycle": CYCLE, "kind": "department", "departments": ["finance"], "owner": "o",
        "title": "t"}), id="403-head-creates-other-departments-objective"),
    pytest.param(_refusal(403, "PATCH", _objective("sales"), body={"title": "x"}, if_match='"1"',
                          caller="marketing_head"), id="403-head-changes-other-objective"),
    pytest.param(_refusal(403, "DELETE", _key_result("sales+marketing"), if_match='"1"',
                          caller="sales_head"), id="403-head-deletes-collective-key-result"),
    pytest.param(_refusal(403, "POST", _check_ins("finance"), body={"value": 1},
                          caller="sales_head"), id="403-head-checks-in-other-department"),
    pytest.param(_refusal(403, "POST", "/v1/contributions", caller="sales_head",
                          body=_contribution_body("sales", "marketing+finance")),
                 id="403-head-attaches-to-target-it-does-not-co-own"),
    pytest.param(_refusal(403, "DELETE", _contribution_path, caller="marketing_head"),
                 id="403-co-owner-removes-other-departments-contribution"),
    pytest.param(_refusal(403, "DELETE", _link_path, caller="marketing_head"),
                 id="403-head-removes-other-departments-link"),
    pytest.param(_refusal(403, "POST", "/v1/links", caller="viewer",
                          body=_link_body("sales", "finance")), id="403-viewer-creates-link"),
    # 404: the item does not exist
    pytest.param(_refusal(404, "PATCH", f"/v1/objectives/{MISSING}", body={"title": "x"},
                          if_match='"1"'), id="404-change-missing-objective"),
    pytest.param(_refusal(404, "POST", f"/v1/objectives/{MISSING}/key-results", body=KR),
                 id="404-key-result-of-missing-objective"),
    pytest.param(_refusal(404, "DELETE", f"/v1/key-results/{MISSING}", if_match='"1"'),
                 id="404-delete-missing-key-result"),
    pytest.param(_refusal(404, "POST", f"/v1/key-results/{MISSING}/check-ins",
                          body={"value": 1}), id="404-check-in-missing-key-result"),
    pytest.param(_refusal(404, "DELETE", f"/v1/contributions/{MISSING}"),
                 id="404-remove-missing-contribution"),
    pytest.param(_refusal(404, "DELETE", f"/v1/links/{MISSING}"), id="404-remove-missing-link"),
    # 409: conflicts with the current state
    pytest.param(_refusal(409, "POST", "/v1/departments", body={"key": "sales", "name": "S"}),
                 id="409-duplicate-department"),
    pytest.param(_refusal(409, "POST", "/v1/contributions", body=_existing_contribution),
                 id="409-duplicate-contribution"),
    pytest.param(_refusal(409, "POST", "/v1/contributions", body=_cycle_closing_contribution),
                 id="409-contribution-closes-a-cycle"),
    pytest.param(_refusal(409, "POST", "/v1/links", body=_existing_link),
                 id="409-duplicate-link"),
    pytest.param(_refusal(409, "POST", _check_ins("sales+marketing", aggregation="sum"),
                          body={"value": 1}), id="409-check-in-on-summing-key-result"),
    # 412: If-Match names another version
    pytest.param(_refusal(412, "PATCH", _objective("sales"), body={"title": "x"},
                          if_match='"2"'), id="412-stale-objective-change"),
    pytest.param(_refusal(412, "DELETE", _key_result("sales"), if_match='"7"'),
                 id="412-stale-key-result-delete"),
    pytest.param(_refusal(412, "PATCH", "/v1/departments/sales", body={"name": "S"},
                          if_match='"9"'), id="412-stale-department-rename"),
    # 422: well-formed but against the rules
    pytest.param(_refusal(422, "POST", "/v1/objectives", body={
        "cycle": "1999-Q1", "kind": "department", "departments": ["sales"], "owner": "o",
        "title": "t"}), id="422-objective-in-missing-cycle"),
    pytest.param(_refusal(422, "POST", lambda b: _objective("sales")(b) + "/key-results",
                          body={**KR, "target": 0}), id="422-key-result-target-equals-start"),
    pytest.param(_refusal(422, "POST", _check_ins("sales", measure="boolean"),
                          body={"value": 0.5}), id="422-boolean-check-in-of-half"),
    pytest.param(_refusal(422, "POST", _check_in_then_reuse_key, body={"value": 2},
                          idempotency_key="k-1"), id="422-idempotency-key-reused"),
    pytest.param(_refusal(422, "POST", "/v1/contributions", body=_contribution_body(
        "sales", "sales+marketing", parent_cycle=OTHER_CYCLE)),
        id="422-contribution-across-cycles"),
    pytest.param(_refusal(422, "POST", "/v1/links", body=_link_body("sales", "sales")),
                 id="422-link-within-one-department"),
    # 428: If-Match missing
    pytest.param(_refusal(428, "PATCH", _key_result("sales"), body={"title": "x"}),
                 id="428-key-result-change-without-if-match"),
    pytest.param(_refusal(428, "DELETE", _objective("sales")),
                 id="428-objective-delete-without-if-match"),
    pytest.param(_refusal(428, "PATCH", f"/v1/cycles/{CYCLE}", body={"name": "x"}),
                 id="428-cycle-change-without-if-match"),
]


@pytest.mark.parametrize("scenario", REFUSALS)
def test_refused_write_adds_no_event_and_no_audit_entry(
    scenario: Scenario, callers: Callers, build: Builder, outbox: Outbox
) -> None:
    write = scenario(build)
    counts = outbox.counts()

    response = send(callers, write)

    assert response.status_code == write.status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_CONTENT_TYPE
    assert outbox.counts() == counts
