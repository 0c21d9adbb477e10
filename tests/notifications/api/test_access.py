"""Private subscriptions: every route, every role and department (tokens of a real goals
service over HTTP). Admins see and manage everything; heads their own department's; nobody
else sees any subscription or delivery (404, as if it did not exist). The role is checked
before the body: a viewer's change with a bad body is a 403, never a 422."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.notifications.bootstrap import Notifications
from services.notifications.entrypoints.api.app import create_app
from shared.web.remote_auth import TokenIntrospector
from tests.conftest import ADMIN_TOKEN, mint_token
from tests.notifications.api.test_api import Client, webhook
from tests.notifications.builders import status_changed
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.service.test_webhook_delivery import consume

ROLES = ("admin", "sales", "finance", "viewer")
#: the department a subscription belongs to: None is the CEO's (no department)
OWNERS: tuple[str | None, ...] = ("sales", "finance", None)


def may_see(role: str, owner: str | None) -> bool:
    return role == "admin" or (role == owner)


@pytest.fixture
def clients(notifications: Notifications, goals_server: str) -> Iterator[dict[str, Client]]:
    app = create_app(container=notifications, introspector=TokenIntrospector(goals_server))
    app.config["TESTING"] = True
    test_client = app.test_client()
    yield {"admin": Client(test_client, ADMIN_TOKEN),
           "sales": Client(test_client, mint_token(goals_server, "head", "sales")),
           "finance": Client(test_client, mint_token(goals_server, "head", "finance")),
           "viewer": Client(test_client, mint_token(goals_server, "viewer"))}


@pytest.fixture
def owned(clients: dict[str, Client], notifications: Notifications,
          receiver: WebhookReceiver) -> dict[str | None, dict[str, str]]:
    """One webhook subscription per owner, each with one delivery (made by a real event)."""
    made: dict[str | None, dict[str, str]] = {}
    for owner in OWNERS:
        body = webhook(receiver.url + f"?owner={owner}", secret=receiver.secret,
                       department=owner, recipient=f"recipient of {owner}",
                       filters={"event_types": ["okr.objective.status_changed"]})
        created = clients["admin"]("POST", "/v1/subscriptions", body)
        assert created.status_code == 201, created.json
        made[owner] = {"id": created.json["id"], "url": body["url"]}
    consume(notifications, status_changed("target-1", "off_track"))
    deliveries = clients["admin"]("GET", "/v1/deliveries").json
    for owner, subscription in made.items():
        (delivery,) = [d for d in deliveries if d["subscription_id"] == subscription["id"]]
        made[owner]["delivery"] = delivery["id"]
    return made


def test_lists_show_each_caller_only_what_they_may_see(
    clients: dict[str, Client], owned: dict[str | None, dict[str, str]]
) -> None:
    for role in ROLES:
        client = clients[role]
        expected = {owned[o]["id"] for o in OWNERS if may_see(role, o)}
        listed = client("GET", "/v1/subscriptions")
        assert listed.status_code == 200
        assert {s["id"] for s in listed.json} == expected, role
        assert json.loads(listed.headers["X-Pagination"])["total"] == len(expected), role
        for owner in OWNERS:  # filtering by another department shows nothing either
            filtered = client("GET", f"/v1/subscriptions?department={owner or 'ceo-office'}")
            if owner is None:  # nothing the service heard of names it: a 400 saying so
                assert filtered.status_code == 400, (role, filtered.json)
                continue
            if filtered.status_code == 400 and not may_see(role, owner):
                continue  # known by its subscriptions alone, which this caller may not see
                # (the next test)
            assert {s["id"] for s in filtered.json} <= expected, (role, owner)
        deliveries = client("GET", "/v1/deliveries")
        assert deliveries.status_code == 200
        assert {d["id"] for d in deliveries.json} == {
            owned[o]["delivery"] for o in OWNERS if may_see(role, o)}, role
        for owner in OWNERS:
            by_subscription = client(
                "GET", f"/v1/deliveries?subscription_id={owned[owner]['id']}").json
            assert len(by_subscription) == (1 if may_see(role, owner) else 0), (role, owner)
        text = listed.get_data(as_text=True) + deliveries.get_data(as_text=True)
        for owner in OWNERS:  # a URL never leaks to someone who may not change it
            assert (owned[owner]["url"] in text) == may_see(role, owner), (role, owner)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("owner", OWNERS)
def test_every_item_route_answers_404_to_those_who_may_not_see_it(
    clients: dict[str, Client], owned: dict[str | None, dict[str, str]], role: str,
    owner: str | None
) -> None:
    client, item = clients[role], owned[owner]
    path = f"/v1/subscriptions/{item['id']}"
    read = client("GET", path)
    if not may_see(role, owner):
        assert read.status_code == 404 and read.mimetype == "application/problem+json"
        # writes: a viewer is refused by role (403) before anything is looked up;
        # a head of another department learns nothing either (404)
        refused = 403 if role == "viewer" else 404
        for method, body in (("PATCH", {"recipient": "Mallory"}), ("DELETE", None)):
            answer = client(method, path, body, if_match=1)
            assert answer.status_code == refused, (method, answer.json)
        retry = client("POST", f"/v1/deliveries/{item['delivery']}/retry")
        assert retry.status_code == refused
        kept = clients["admin"]("GET", path).json
        assert kept["recipient"] == f"recipient of {owner}" and kept["version"] == 1
        return
    assert read.status_code == 200 and read.json["url"] == item["url"]
    changed = client("PATCH", path, {"recipient": "Ann"}, if_match=read.headers["ETag"])
    assert changed.status_code == 200 and changed.json["url"] == item["url"]
    retry = client("POST", f"/v1/deliveries/{item['delivery']}/retry")
    assert retry.status_code == 202
    assert client("DELETE", path, if_match=changed.json["version"]).status_code == 204
    assert clients["admin"]("GET", path).status_code == 404


@pytest.mark.parametrize("role", ["viewer", "sales", "finance"])
def test_creating_for_another_department_is_refused(
    clients: dict[str, Client], role: str
) -> None:
    for owner in OWNERS:
        if owner == role or (owner is None and role != "viewer"):
            continue  # a head's subscription with no department is their department's
        answer = clients[role]("POST", "/v1/subscriptions", webhook(department=owner))
        assert answer.status_code == 403, (owner, answer.json)
    assert clients["admin"]("GET", "/v1/subscriptions").json == []
    if role != "viewer":
        own = clients[role]("POST", "/v1/subscriptions", webhook(department=None))
        assert own.status_code == 201 and own.json["department"] == role


# Well-formed JSON text: bytes the shared input boundary refuses for everyone (control
# characters, lone surrogates) are answered 422 before any route, by design.
clean = st.characters(blacklist_categories=("Cc", "Cs"))
# A JSON object each: no body (400) or JSON that is not an object (422) is refused by the
# input boundary, which classifies the framing of every request before it is authenticated
# (tests/platform/fuzz/test_input_boundary.py); what follows is the route's to judge.
hostile = st.one_of(st.dictionaries(st.text(clean, max_size=12), st.one_of(
                        st.none(), st.booleans(), st.text(clean, max_size=30)), max_size=6),
                    st.fixed_dictionaries({"recipient": st.text(clean, max_size=300),
                                           "channel": st.sampled_from(["webhook", "x"]),
                                           "url": st.text(clean, max_size=40)}))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=hostile)
def test_a_viewer_is_refused_before_the_body_is_read(
    clients: dict[str, Client], owned: dict[str | None, dict[str, str]], body: Any
) -> None:
    viewer = clients["viewer"]
    target = owned["sales"]["id"]
    for method, path in (("POST", "/v1/subscriptions"),
                         ("PATCH", f"/v1/subscriptions/{target}"),
                         ("PATCH", "/v1/subscriptions/no-such-id"),
                         ("DELETE", f"/v1/subscriptions/{target}")):
        answer = viewer(method, path, body, if_match=1)
        assert answer.status_code == 403, (method, path, answer.json)
        assert answer.mimetype == "application/problem+json"
    # a head may write, so their body is validated (422) and otherwise the item they
    # cannot see is not found (404); never changed
    answer = clients["finance"]("PATCH", f"/v1/subscriptions/{target}", body, if_match=1)
    assert answer.status_code in (404, 422), answer.json
    assert len(clients["admin"]("GET", "/v1/subscriptions").json) == len(OWNERS)


def test_whether_a_department_has_subscriptions_is_told_only_to_those_who_may_see_them(
    clients: dict[str, Client]
) -> None:
    """A department known to the service by its subscriptions alone (no objective, no link)
    is a filter the admin may use; to anyone else it answers as a department never heard of
    does, so the 400-or-empty answer does not tell them it has subscriptions."""
    created = clients["admin"]("POST", "/v1/subscriptions", webhook(department="legal"))
    assert created.status_code == 201, created.json
    assert [s["id"] for s in clients["admin"](
        "GET", "/v1/subscriptions?department=legal").json] == [created.json["id"]]
    for role in ("viewer", "sales", "finance"):
        known_by_subscriptions = clients[role]("GET", "/v1/subscriptions?department=legal")
        never_heard_of = clients[role]("GET", "/v1/subscriptions?department=legak")
        assert never_heard_of.status_code == 400, (role, never_heard_of.json)
        assert known_by_subscriptions.status_code == never_heard_of.status_code, role
        assert json.dumps(known_by_subscriptions.json).replace("legal", "legak") == \
            json.dumps(never_heard_of.json), role
