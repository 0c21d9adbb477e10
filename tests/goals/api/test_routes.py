"""Happy paths of every goals route: what a well-behaved client gets back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from services.goals.bootstrap import Goals
from services.goals.domain.reference_data import DEFAULT_DEPARTMENTS
from services.goals.service_layer.reference_data import seed_default_departments
from tests.conftest import ADMIN_TOKEN, ApiClient
from tests.goals.api.conftest import CYCLE, World, assert_problem, mint, snapshot


def pagination(response: Any) -> dict[str, Any]:
    header = response.headers.get("X-Pagination")
    assert header, dict(response.headers)
    value: dict[str, Any] = json.loads(header)
    return value


def audit(api: ApiClient, query: str = "") -> list[dict[str, Any]]:
    response = api.get("/v1/audit" + query)
    assert response.status_code == 200, response.get_json()
    entries: list[dict[str, Any]] = response.get_json()
    return entries


# -- departments ------------------------------------------------------------------------------

def test_the_four_default_departments_exist_after_seeding(api: ApiClient, goals: Goals) -> None:
    assert api.get("/v1/departments").get_json() == []  # migrated, not seeded
    assert seed_default_departments(goals.unit_of_work()) == list(DEFAULT_DEPARTMENTS)
    assert seed_default_departments(goals.unit_of_work()) == []  # seeding again adds nothing

    response = api.get("/v1/departments")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    listed = {item["key"]: item["name"] for item in response.get_json()}
    assert listed == {"finance": "Finance", "marketing": "Marketing",
                      "production": "Production", "sales": "Sales"}
    assert pagination(response)["total"] == 4
    seeded = audit(api, "?item_type=department")
    assert {entry["item_id"] for entry in seeded} == set(DEFAULT_DEPARTMENTS)
    assert {entry["actor"] for entry in seeded} == {"system"}
    assert snapshot(goals)["counts"] == {"outbox_events": 4, "audit_log": 4}


def test_departments_are_listed_by_key_a_page_at_a_time(api: ApiClient, seeded: Goals) -> None:
    first = api.get("/v1/departments?page=1&page_size=3")
    second = api.get("/v1/departments?page=2&page_size=3")
    beyond = api.get("/v1/departments?page=3&page_size=3")

    assert [d["key"] for d in first.get_json()] == ["finance", "marketing", "production"]
    assert [d["key"] for d in second.get_json()] == ["sales"]
    assert beyond.status_code == 200 and beyond.get_json() == []
    assert pagination(first) == {"total": 4, "total_pages": 2, "first_page": 1, "last_page": 2,
                                 "page": 1, "next_page": 2}
    assert pagination(second)["previous_page"] == 1


def test_a_department_is_created_read_and_renamed_with_its_etag(
    api: ApiClient, seeded: Goals
) -> None:
    created = api.post("/v1/departments", json={"key": "legal", "name": "Legal"})
    assert created.status_code == 201, created.get_json()
    assert created.headers["Location"] == "/v1/departments/legal"
    assert created.headers["ETag"] == '"1"'
    assert created.get_json()["version"] == 1

    read = api.get("/v1/departments/legal")
    assert read.status_code == 200
    assert read.headers["ETag"] == '"1"'
    assert read.get_json()["name"] == "Legal"

    renamed = api.patch("/v1/departments/legal", json={"name": "Legal & Compliance"},
                        headers={"If-Match": read.headers["ETag"]})
    assert renamed.status_code == 200, renamed.get_json()
    assert renamed.headers["ETag"] == '"2"'
    assert renamed.get_json()["name"] == "Legal & Compliance"
    again = api.get("/v1/departments/legal")
    assert again.headers["ETag"] == '"2"' and again.get_json()["name"] == "Legal & Compliance"

    # the old ETag is stale now
    stale = api.patch("/v1/departments/legal", json={"name": "Legal"},
                      headers={"If-Match": '"1"'})
    assert_problem(stale, 412)
    assert api.get("/v1/departments/legal").get_json()["name"] == "Legal & Compliance"


def test_audit_entries_record_actor_before_and_after(api: ApiClient, seeded: Goals) -> None:
    api.post("/v1/departments", json={"key": "legal", "name": "Legal"},
             headers={"X-Request-ID": "req-create-legal"})
    api.patch("/v1/departments/legal", json={"name": "Legal & Compliance"},
              headers={"If-Match": '"1"', "X-Request-ID": "req-rename-legal"})

    renamed, created = audit(api, "?item_type=department&item_id=legal")

    assert created["action"] == "okr.department.created"
    assert created["actor"] == "admin (OKR_ADMIN_TOKEN)" and created["actor_role"] == "admin"
    assert created["department"] == "legal"
    assert created["before"] is None
    assert created["after"]["name"] == "Legal" and created["after"]["version"] == 1
    assert created["request_id"] == "req-create-legal"
    assert created["event_id"]
    assert renamed["action"] == "okr.department.updated"
    assert renamed["before"]["name"] == "Legal" and renamed["before"]["version"] == 1
    assert renamed["after"]["name"] == "Legal & Compliance" and renamed["after"]["version"] == 2
    assert renamed["request_id"] == "req-rename-legal"
    assert renamed["event_id"] != created["event_id"]


def test_a_request_id_that_is_not_an_id_is_replaced(api: ApiClient, seeded: Goals) -> None:
    for number, bad in enumerate(("x" * 65, "two words", "caf\u00e9")):
        response = api.post("/v1/departments", json={"key": f"legal-{number}", "name": "Legal"},
                            headers={"X-Request-ID": bad})
        assert response.status_code == 201, response.get_json()
        assert response.headers["X-Request-ID"] != bad
        assert len(response.headers["X-Request-ID"]) == 32
    assert {len(entry["request_id"]) for entry in audit(api, "?item_type=department")
            if entry["actor"] != "system"} == {32}


def test_every_time_is_answered_with_its_utc_offset(api: ApiClient, world: World) -> None:
    """SQLite keeps no offset; what it returns must still be read as UTC."""
    api.patch("/v1/departments/sales", json={"name": "Sales"}, headers={"If-Match": '"1"'})
    documents = [api.get("/v1/departments/sales").get_json(),
                 *api.get("/v1/departments").get_json(),
                 api.get(f"/v1/cycles/{CYCLE}").get_json(), *api.get("/v1/cycles").get_json(),
                 *api.get("/v1/tokens").get_json()]
    times = [document[name] for document in documents
             for name in ("created_at", "updated_at", "revoked_at") if document.get(name)]
    times += [entry["occurred_at"] for entry in audit(api)]
    times += [entry["before"][name] for entry in audit(api, "?item_type=department")
              if entry["before"] for name in ("created_at", "updated_at")]
    assert len(times) > 20
    for value in times:
        assert datetime.fromisoformat(value).utcoffset() == timedelta(0), value


def test_audit_time_filters_honour_the_offset_given(api: ApiClient, world: World) -> None:
    now = datetime.now(UTC)
    east, west = timezone(timedelta(hours=5)), timezone(timedelta(hours=-5))

    def at(moment: datetime) -> str:
        return moment.isoformat().replace("+", "%2B")

    assert len(audit(api, "?since=" + at((now - timedelta(minutes=5)).astimezone(east)))) == 9
    assert audit(api, "?since=" + at((now + timedelta(minutes=5)).astimezone(west))) == []
    assert len(audit(api, "?until=" + at((now + timedelta(minutes=5)).astimezone(west)))) == 9
    assert audit(api, "?until=" + at((now - timedelta(minutes=5)).astimezone(east))) == []


# -- cycles -----------------------------------------------------------------------------------

def test_a_cycle_is_created_read_listed_and_changed(api: ApiClient, goals: Goals) -> None:
    for key, starts, ends in (("2026-Q3", "2026-07-01", "2026-09-30"),
                              (CYCLE, "2026-10-01", "2026-12-31"),
                              ("2027", "2027-01-01", "2028-12-31")):  # 730 days is allowed
        response = api.post("/v1/cycles", json={"key": key, "starts_on": starts, "ends_on": ends})
        assert response.status_code == 201, response.get_json()
        assert response.headers["Location"] == f"/v1/cycles/{key}"
        assert response.headers["ETag"] == '"1"'
        assert response.get_json()["name"] == key

    listed = api.get("/v1/cycles?page_size=2")
    assert [c["key"] for c in listed.get_json()] == ["2027", CYCLE]  # newest first
    assert pagination(listed)["total"] == 3 and pagination(listed)["total_pages"] == 2
    active = api.get("/v1/cycles?active_on=2026-11-15")
    assert [c["key"] for c in active.get_json()] == [CYCLE]
    assert pagination(active)["total"] == 1
    assert api.get("/v1/cycles?active_on=2026-10-01").get_json()[0]["key"] == CYCLE
    assert api.get("/v1/cycles?active_on=2026-12-31").get_json()[0]["key"] == CYCLE
    assert api.get("/v1/cycles?active_on=2020-01-01").get_json() == []

    read = api.get(f"/v1/cycles/{CYCLE}")
    assert read.status_code == 200 and read.headers["ETag"] == '"1"'
    assert read.get_json()["starts_on"] == "2026-10-01"

    changed = api.patch(f"/v1/cycles/{CYCLE}", json={"name": "Q4 2026", "ends_on": "2027-01-15"},
                        headers={"If-Match": read.headers["ETag"]})
    assert changed.status_code == 200, changed.get_json()
    assert changed.headers["ETag"] == '"2"'
    body = changed.get_json()
    assert (body["name"], body["starts_on"], body["ends_on"], body["version"]) == (
        "Q4 2026", "2026-10-01", "2027-01-15", 2)
    assert api.get(f"/v1/cycles/{CYCLE}").get_json()["ends_on"] == "2027-01-15"

    (entry, *_) = audit(api, f"?item_type=cycle&item_id={CYCLE}")
    assert entry["action"] == "okr.cycle.updated"
    assert entry["before"]["ends_on"] == "2026-12-31"
    assert entry["after"]["ends_on"] == "2027-01-15"
    assert snapshot(goals)["counts"] == {"outbox_events": 4, "audit_log": 4}


# -- tokens -----------------------------------------------------------------------------------

def test_a_minted_token_works_until_it_is_revoked(api: ApiClient, seeded: Goals) -> None:
    minted = mint(api, "viewer", name="dashboard")
    assert minted["token"].startswith("okr_")
    assert minted["role"] == "viewer" and minted["department"] is None
    assert minted["created_by"] == "admin (OKR_ADMIN_TOKEN)"
    viewer = api.as_token(minted["token"])
    assert viewer.get("/v1/departments").status_code == 200
    assert_problem(viewer.post("/v1/departments", json={"key": "legal", "name": "Legal"}), 403)

    listed = api.get("/v1/tokens")
    assert listed.status_code == 200
    assert [t["id"] for t in listed.get_json()] == [minted["id"]]
    assert pagination(listed)["total"] == 1
    assert "token" not in listed.get_json()[0] and "token_hash" not in listed.get_json()[0]

    revoked = api.delete(f"/v1/tokens/{minted['id']}")
    assert revoked.status_code == 204 and revoked.get_data() == b""

    refused = viewer.get("/v1/departments")
    assert_problem(refused, 401)
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.get("/v1/tokens").get_json()[0]["revoked_at"] is not None
    revoked_entry, minted_entry = audit(api, "?item_type=token")
    assert minted_entry["action"] == "okr.token.minted"
    assert revoked_entry["action"] == "okr.token.revoked"
    assert revoked_entry["before"]["revoked_at"] is None
    assert revoked_entry["after"]["revoked_at"] is not None
    assert minted["token"] not in json.dumps([minted_entry, revoked_entry])
    # revoking twice is harmless
    assert api.delete(f"/v1/tokens/{minted['id']}").status_code == 204


def test_a_head_token_reads_and_audits_its_own_department(api: ApiClient, world: World) -> None:
    head = api.as_token(world.head)
    assert head.get("/v1/departments/sales").status_code == 200
    assert head.get(f"/v1/cycles/{CYCLE}").status_code == 200
    entries = head.get("/v1/audit")
    assert entries.status_code == 200
    assert entries.get_json() and {e["department"] for e in entries.get_json()} == {"sales"}
    assert head.get("/v1/audit?department=sales").status_code == 200


# -- audit ------------------------------------------------------------------------------------

def test_the_audit_log_is_filtered_and_paginated_newest_first(
    api: ApiClient, world: World
) -> None:
    everything = api.get("/v1/audit?page_size=100")
    entries = everything.get_json()
    # 4 seeded departments, 1 cycle, 3 tokens minted, 1 revoked
    assert pagination(everything)["total"] == len(entries) == 9
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)

    page = api.get("/v1/audit?page=2&page_size=4")
    assert [e["id"] for e in page.get_json()] == [e["id"] for e in entries[4:8]]
    assert pagination(page)["total_pages"] == 3

    cycle_entries = audit(api, "?item_type=cycle")
    assert [(e["item_id"], e["action"]) for e in cycle_entries] == [(CYCLE, "okr.cycle.created")]
    assert [e["item_id"] for e in audit(api, "?department=marketing")] == ["marketing"]

    now = datetime.now(UTC)
    since = (now - timedelta(minutes=5)).isoformat()
    until = (now + timedelta(minutes=5)).isoformat()
    assert len(audit(api, "?since=" + since.replace("+", "%2B"))) == 9
    assert audit(api, "?until=" + (now - timedelta(days=1)).isoformat().replace("+", "%2B")) == []
    assert len(audit(api, f"?since={since.replace('+', '%2B')}&until="
                          f"{until.replace('+', '%2B')}")) == 9
    assert audit(api, "?since=" + (now + timedelta(days=1)).isoformat().replace("+", "%2B")) == []


def test_the_admin_token_from_the_environment_needs_no_database_row(
    api: ApiClient, goals: Goals
) -> None:
    assert goals.config.admin_token == ADMIN_TOKEN
    assert api.get("/v1/tokens").get_json() == []
    assert api.get("/v1/departments").status_code == 200
