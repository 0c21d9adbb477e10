"""The notifications HTTP API: subscriptions and deliveries, who may do what, and clear 4xx
problems for bad subscriptions (tokens checked by a real goals service over HTTP)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.notifications.bootstrap import Notifications
from services.notifications.entrypoints.api.app import create_app
from shared.web.remote_auth import TokenIntrospector
from tests.conftest import ADMIN_TOKEN, mint_token
from tests.notifications.builders import new_secret, status_changed
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.service.test_webhook_delivery import consume


class Client:
    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client, self.token = client, token

    def __call__(self, method: str, path: str, body: Any = None,
                 if_match: str | int | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"' if isinstance(if_match, int) else if_match
        return self.client.open(path, method=method, json=body, headers=headers)


@pytest.fixture
def clients(notifications: Notifications, goals_server: str) -> Iterator[dict[str, Client]]:
    app = create_app(container=notifications, introspector=TokenIntrospector(goals_server))
    app.config["TESTING"] = True
    test_client = app.test_client()
    yield {"admin": Client(test_client, ADMIN_TOKEN),
           "sales": Client(test_client, mint_token(goals_server, "head", "sales")),
           "viewer": Client(test_client, mint_token(goals_server, "viewer"))}


def webhook(url: str = "https://93.184.216.34/hook", **fields: Any) -> dict[str, Any]:
    return {"recipient": "Head of sales", "department": "sales", "channel": "webhook",
            "url": url, "secret": new_secret(), **fields}


def test_subscription_round_trip_never_shows_the_secret(clients: dict[str, Client]) -> None:
    admin = clients["admin"]
    body = webhook(filters={"event_types": ["okr.objective.status_changed"],
                            "statuses": ["off_track"]}, mode="digest",
                   digest_interval_seconds=600)
    created = admin("POST", "/v1/subscriptions", body)
    assert created.status_code == 201, created.json
    assert body["secret"] not in created.get_data(as_text=True)
    assert created.json["has_secret"] is True and "secret" not in created.json
    sid = created.json["id"]
    read = admin("GET", f"/v1/subscriptions/{sid}")
    assert read.json["filters"]["statuses"] == ["off_track"] and read.json["mode"] == "digest"
    assert read.headers["ETag"] == '"1"'
    listed = admin("GET", "/v1/subscriptions?department=sales&page_size=1")
    assert [s["id"] for s in listed.json] == [sid]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 1
    changed = admin("PATCH", f"/v1/subscriptions/{sid}", {"mode": "immediate"},
                    if_match=read.headers["ETag"])
    assert changed.status_code == 200 and changed.json["version"] == 2
    assert changed.headers["ETag"] == '"2"'
    assert admin("DELETE", f"/v1/subscriptions/{sid}", if_match=2).status_code == 204
    assert admin("GET", f"/v1/subscriptions/{sid}").status_code == 404


def test_heads_manage_only_their_department_and_viewers_nothing(
    clients: dict[str, Client]
) -> None:
    sales, viewer, admin = clients["sales"], clients["viewer"], clients["admin"]
    own = sales("POST", "/v1/subscriptions", webhook(department=None))
    assert own.status_code == 201 and own.json["department"] == "sales"
    other = sales("POST", "/v1/subscriptions", webhook(department="finance"))
    assert other.status_code == 403
    finance = admin("POST", "/v1/subscriptions", webhook(department="finance")).json["id"]
    # another department's subscription is not found, as if it did not exist
    assert sales("DELETE", f"/v1/subscriptions/{finance}", if_match=1).status_code == 404
    assert viewer("POST", "/v1/subscriptions", webhook()).status_code == 403
    assert viewer("GET", "/v1/subscriptions").status_code == 200
    assert viewer("GET", "/v1/subscriptions").json == []  # private: see test_access.py
    assert len(admin("GET", "/v1/subscriptions").json) == 2
    unauthenticated = sales.client.get("/v1/subscriptions")
    assert unauthenticated.status_code == 401


def test_changes_need_the_version_read_and_a_stale_one_changes_nothing(
    clients: dict[str, Client]
) -> None:
    admin = clients["admin"]
    sid = admin("POST", "/v1/subscriptions", webhook()).json["id"]
    path = f"/v1/subscriptions/{sid}"

    for method, body in (("PATCH", {"mode": "digest"}), ("DELETE", None)):
        missing = admin(method, path, body)
        assert missing.status_code == 428 and missing.mimetype == "application/problem+json"
        assert "If-Match" in missing.json["detail"]
        assert admin(method, path, body, if_match="*").status_code == 428
        assert admin(method, path, body, if_match='"v1"').status_code == 412
        empty = admin(method, path, body, if_match='""')  # no tag to werkzeug: was a 500
        assert empty.status_code == 412 and empty.mimetype == "application/problem+json"

    # two editors read version 1; the first change wins, the second is refused
    first = admin("PATCH", path, {"recipient": "Ann"}, if_match=1)
    assert first.status_code == 200 and first.json["version"] == 2
    second = admin("PATCH", path, {"recipient": "Bob"}, if_match=1)
    assert second.status_code == 412 and second.mimetype == "application/problem+json"
    assert "version 2" in second.json["detail"]
    assert admin("DELETE", path, if_match=1).status_code == 412
    kept = admin("GET", path)
    assert kept.json["recipient"] == "Ann" and kept.json["version"] == 2
    assert kept.json["mode"] == "immediate"


def test_twenty_concurrent_changes_from_the_same_version_one_wins(
    clients: dict[str, Client]
) -> None:
    admin = clients["admin"]
    sid = admin("POST", "/v1/subscriptions", webhook()).json["id"]
    app = admin.client.application

    def change(number: int) -> int:
        client = Client(app.test_client(), admin.token)
        answer = client("PATCH", f"/v1/subscriptions/{sid}", {"recipient": f"editor {number}"},
                        if_match=1)
        return int(answer.status_code)

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(change, range(20)))
    assert sorted(statuses) == [200] + [412] * 19
    winner = statuses.index(200)
    stored = admin("GET", f"/v1/subscriptions/{sid}").json
    assert stored["recipient"] == f"editor {winner}" and stored["version"] == 2


@pytest.mark.parametrize(("change", "status", "detail"), [
    ({"url": "ftp://example.org/hook"}, 422, "http or https"),
    ({"url": "http://10.0.0.7/hook"}, 422, "private"),
    ({"url": "http://169.254.169.254/latest"}, 422, "link-local"),
    ({"url": "http://127.0.0.1:9/hook"}, 422, "loopback"),
    ({"url": "http://user:pw@example.org/"}, 422, "credentials"),
    ({"filters": {"event_types": ["okr.nothing.happened"]}}, 422, "unknown event type"),
    ({"filters": {"statuses": ["fine"]}}, 422, "unknown status"),
    ({"secret": "plain-secret"}, 422, "whsec_"),
    ({"channel": "pigeon"}, 422, "channel"),
    ({"mode": "sometimes"}, 422, "mode"),
    ({"colour": "blue"}, 422, "colour"),
])
def test_bad_subscriptions_get_a_clear_problem_and_change_nothing(
    clients: dict[str, Client], notifications: Notifications, change: dict[str, Any],
    status: int, detail: str
) -> None:
    notifications.config = _strict(notifications)
    answer = clients["admin"]("POST", "/v1/subscriptions", {**webhook(), **change})
    assert answer.status_code == status, answer.json
    assert answer.mimetype == "application/problem+json"
    assert detail in json.dumps(answer.json)
    assert clients["admin"]("GET", "/v1/subscriptions").json == []


@pytest.mark.parametrize("address", [
    "\u202eofni@example.org",  # reads "info" reversed
    "c\u200beo@example.org", "ceo\u2066@example.org",
    # invisible, though not format characters: a Hangul filler, a braille blank, a
    # combining grapheme joiner, a variation selector, an object replacement character
    "he\u3164ad@example.org", "he\u2800ad@example.org", "he\u034fad@example.org",
    "he\ufe0fad@example.org", "he\ufffcad@example.org",
    # private use (a box, or nothing), and unassigned
    "a\ue000@example.org", "a\U000f0000@example.org", "a\u0378@example.org"])
def test_an_e_mail_address_that_reads_as_another_is_refused(
        clients: dict[str, Client], address: str) -> None:
    answer = clients["admin"]("POST", "/v1/subscriptions", {
        "recipient": "Head of sales", "department": "sales", "channel": "email",
        "email": address})
    assert answer.status_code == 422, answer.json
    assert answer.mimetype == "application/problem+json"
    assert "no invisible or direction-changing characters" in json.dumps(answer.json)
    assert clients["admin"]("GET", "/v1/subscriptions").json == []


def _strict(container: Notifications) -> Any:
    from dataclasses import replace

    from services.notifications.domain.targets import TargetPolicy

    return replace(container.config,
                   delivery=replace(container.config.delivery, targets=TargetPolicy()))


def test_deliveries_list_by_status_and_a_dead_one_can_be_sent_again_with_the_same_id(
    clients: dict[str, Client], notifications: Notifications, receiver: WebhookReceiver
) -> None:
    admin = clients["admin"]
    receiver.status = 400
    admin("POST", "/v1/subscriptions", webhook(receiver.url, secret=receiver.secret))
    consume(notifications, status_changed("target-1", "off_track"))
    notifications.delivery_loop().run_once()
    (dead,) = admin("GET", "/v1/deliveries?status=dead").json
    assert dead["last_error"] == "receiver answered 400"
    assert admin("GET", "/v1/deliveries?status=delivered").json == []
    assert clients["viewer"]("POST", f"/v1/deliveries/{dead['id']}/retry").status_code == 403

    receiver.status = 200
    retried = admin("POST", f"/v1/deliveries/{dead['id']}/retry")
    assert retried.status_code == 202 and retried.json["status"] == "pending"
    notifications.delivery_loop().run_once()
    (delivered,) = admin("GET", "/v1/deliveries?status=delivered").json
    assert delivered["id"] == dead["id"]
    assert receiver.ids() == [dead["id"], dead["id"]]
    assert admin("GET", "/v1/deliveries?status=nonsense").status_code == 422
    assert admin("POST", "/v1/deliveries/nope/retry").status_code == 404


def test_operational_routes_answer_without_a_token(clients: dict[str, Client]) -> None:
    plain = clients["admin"].client
    assert plain.get("/healthz").status_code == 200
    document = plain.get("/openapi.json").json
    assert document is not None and "/v1/subscriptions" in document["paths"]
    metrics = plain.get("/metrics")
    assert metrics.status_code == 200 and b"okr_http_requests_total" in metrics.data


@pytest.mark.parametrize("channel", ["webhook", "slack", "teams"])
def test_a_url_with_port_0_is_refused_on_subscribing_and_on_changing(
    clients: dict[str, Client], channel: str
) -> None:
    admin = clients["admin"]
    chat = {} if channel == "webhook" else {"secret": None}
    port_0 = "https://93.184.216.34:0/hook"
    body = {k: v for k, v in {**webhook(port_0, channel=channel), **chat}.items()
            if v is not None}
    refused = admin("POST", "/v1/subscriptions", body)
    assert refused.status_code == 422, refused.json
    assert refused.mimetype == "application/problem+json"
    assert "port 0" in json.dumps(refused.json)
    assert admin("GET", "/v1/subscriptions").json == []

    body["url"] = "https://93.184.216.34/hook"
    sid = admin("POST", "/v1/subscriptions", body).json["id"]
    changed = admin("PATCH", f"/v1/subscriptions/{sid}", {"url": port_0}, if_match=1)
    assert changed.status_code == 422 and "port 0" in json.dumps(changed.json)
    kept = admin("GET", f"/v1/subscriptions/{sid}").json
    assert kept["url"] == "https://93.184.216.34/hook" and kept["version"] == 1


def test_a_digest_schedule_is_kept_shown_changed_and_cleared(
    clients: dict[str, Client]
) -> None:
    admin = clients["admin"]
    schedule = {"time": "09:00", "weekdays": ["monday", "thursday"],
                "time_zone": "Europe/Berlin"}
    created = admin("POST", "/v1/subscriptions", webhook(mode="digest",
                                                         digest_schedule=schedule))
    assert created.status_code == 201, created.json
    assert created.json["digest_schedule"] == schedule
    sid = created.json["id"]
    assert admin("GET", f"/v1/subscriptions/{sid}").json["digest_schedule"] == schedule
    later = {"time": "17:30", "weekdays": ["friday"], "time_zone": "America/New_York"}
    changed = admin("PATCH", f"/v1/subscriptions/{sid}", {"digest_schedule": later},
                    if_match=1)
    assert changed.status_code == 200 and changed.json["digest_schedule"] == later
    cleared = admin("PATCH", f"/v1/subscriptions/{sid}", {"digest_schedule": None},
                    if_match=2)
    assert cleared.status_code == 200 and cleared.json["digest_schedule"] is None
    assert admin("GET", f"/v1/subscriptions/{sid}").json["digest_schedule"] is None
    plain = admin("POST", "/v1/subscriptions", webhook()).json
    assert plain["digest_schedule"] is None
    document = admin.client.get("/openapi.json").json
    properties = document["components"]["schemas"]["DigestSchedule"]["properties"]
    assert set(properties) == {"time", "weekdays", "time_zone"}


@pytest.mark.parametrize(("schedule", "detail"), [
    ({"time": "09:00", "weekdays": ["monday"], "time_zone": "Mars/Olympus"},
     "unknown time zone 'Mars/Olympus'"),
    ({"time": "25:00", "weekdays": ["monday"], "time_zone": "Europe/Berlin"},
     "00:00 to 23:59"),
    ({"time": "9 am", "weekdays": ["monday"], "time_zone": "Europe/Berlin"}, "HH:MM"),
    ({"time": "09:00", "weekdays": [], "time_zone": "Europe/Berlin"}, "one to seven"),
    ({"time": "09:00", "weekdays": ["caturday"], "time_zone": "Europe/Berlin"}, "monday"),
    ({"time": "09:00", "weekdays": "monday", "time_zone": "Europe/Berlin"}, "weekdays"),
    ({"time": "09:00", "weekdays": ["monday"]}, "time_zone"),
    ({"time": "09:00", "weekdays": ["monday"], "time_zone": "UTC", "every": 2}, "every"),
    ("mondays", "digest_schedule"),
    # names the host's time zone database may hold that are no IANA zone
    *[({"time": "09:00", "weekdays": ["monday"], "time_zone": name},
       f"unknown time zone '{name}'")
      for name in ("localtime", "posixrules", "Factory", "right/UTC", "posix/Europe/Berlin")],
])
def test_a_bad_digest_schedule_gets_a_clear_problem_and_changes_nothing(
    clients: dict[str, Client], schedule: Any, detail: str
) -> None:
    admin = clients["admin"]
    refused = admin("POST", "/v1/subscriptions", webhook(digest_schedule=schedule))
    assert refused.status_code == 422, refused.json
    assert refused.mimetype == "application/problem+json"
    assert detail in json.dumps(refused.json)
    assert admin("GET", "/v1/subscriptions").json == []
    sid = admin("POST", "/v1/subscriptions", webhook()).json["id"]
    changed = admin("PATCH", f"/v1/subscriptions/{sid}", {"digest_schedule": schedule},
                    if_match=1)
    assert changed.status_code == 422 and detail in json.dumps(changed.json)
    assert admin("GET", f"/v1/subscriptions/{sid}").json["version"] == 1


def test_a_page_number_in_other_digits_or_with_spaces_is_refused_not_read_as_one(
        clients: dict[str, Client]) -> None:
    admin = clients["admin"]
    for path in ("/v1/subscriptions", "/v1/deliveries"):
        assert admin("GET", f"{path}?page=1&page_size=1").status_code == 200
        for number in ("%D9%A1", "%201", "1_0"):  # int() reads each as 1 or 10
            for name in ("page", "page_size"):
                refused = admin("GET", f"{path}?{name}={number}")
                assert refused.status_code == 422, (path, name, number)
                assert refused.content_type == "application/problem+json"
                assert "digits 0 to 9" in json.dumps(refused.json["errors"]), refused.json


@pytest.mark.parametrize("bad", ["600", True, 600.0, 600.5, None],
                         ids=["string", "boolean", "whole-float", "fraction", "null"])
def test_a_digest_interval_that_is_not_a_json_integer_is_refused_and_changes_nothing(
        clients: dict[str, Client], bad: Any) -> None:
    admin = clients["admin"]
    listed_before = admin("GET", "/v1/subscriptions").json
    refused = admin("POST", "/v1/subscriptions",
                    webhook(mode="digest", digest_interval_seconds=bad))
    assert refused.status_code == 422, refused.json
    assert refused.content_type == "application/problem+json"
    assert "digest_interval_seconds" in refused.get_data(as_text=True)
    assert admin("GET", "/v1/subscriptions").json == listed_before

    created = admin("POST", "/v1/subscriptions", webhook(mode="digest",
                                                         digest_interval_seconds=600))
    assert created.status_code == 201, created.json
    sid = created.json["id"]
    changed = admin("PATCH", f"/v1/subscriptions/{sid}", {"digest_interval_seconds": bad},
                    if_match=1)
    assert changed.status_code == 422, changed.json
    after = admin("GET", f"/v1/subscriptions/{sid}")
    assert after.json["digest_interval_seconds"] == 600 and after.json["version"] == 1
