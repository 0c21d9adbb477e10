"""``POST /v1/subscriptions`` takes an ``Idempotency-Key`` as the goals' creates do
(``shared/idempotency.py``): a retry with the same key and body subscribes once and gets the
first answer (200, ``Idempotent-Replayed: true``); the same key with another body is a 422
that changes nothing; keys are the caller's own token's; concurrent requests with one key
over real HTTP subscribe once; old keys are forgotten. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from services.notifications.adapters import tables
from services.notifications.bootstrap import Notifications
from services.notifications.entrypoints.api.app import create_app
from shared.idempotency import purge_keys
from shared.web.remote_auth import TokenIntrospector
from tests.conftest import ADMIN_TOKEN, mint_token
from tests.notifications.api.test_api import Client, webhook
from tests.notifications.receiver import WebhookReceiver
from tests.support.live_apis import served

REPLAYED = "Idempotent-Replayed"


@pytest.fixture
def clients(notifications: Notifications, goals_server: str) -> Iterator[dict[str, Client]]:
    app = create_app(container=notifications, introspector=TokenIntrospector(goals_server))
    app.config["TESTING"] = True
    test_client = app.test_client()
    yield {"admin": Client(test_client, ADMIN_TOKEN),
           "crm": Client(test_client, mint_token(goals_server, "admin", name="crm seeder")),
           "erp": Client(test_client, mint_token(goals_server, "admin", name="erp seeder")),
           "sales": Client(test_client, mint_token(goals_server, "head", "sales"))}


def post(client: Client, body: dict[str, Any], key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {client.token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.client.post("/v1/subscriptions", json=body, headers=headers)


def rows(notifications: Notifications, table: Any) -> int:
    with notifications.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_retried_subscribe_is_applied_once_and_answered_as_the_first_time(
        clients: dict[str, Client], notifications: Notifications,
        receiver: WebhookReceiver) -> None:
    body = webhook(receiver.url, secret=receiver.secret, department="sales")
    first = post(clients["crm"], body, "subscribe-1")
    assert first.status_code == 201, first.json
    assert REPLAYED not in first.headers
    assert first.headers["Location"] == f"/v1/subscriptions/{first.json['id']}"
    assert first.headers["ETag"] == f'"{first.json["version"]}"'
    # the fresh answer is what the route answers without a key (the same schema)
    plain = post(clients["crm"], {**body, "recipient": "someone else"}, None)
    assert set(plain.json) == set(first.json)
    assert plain.headers["ETag"] == f'"{plain.json["version"]}"'

    for _ in range(2):
        again = post(clients["crm"], dict(reversed(list(body.items()))), "subscribe-1")
        assert again.status_code == 200, again.json
        assert again.headers[REPLAYED] == "true"
        assert again.json == first.json
        assert again.headers["Location"] == first.headers["Location"]
        assert again.headers["ETag"] == first.headers["ETag"]
    listed = clients["admin"]("GET", "/v1/subscriptions").json
    assert sorted(item["id"] for item in listed) == sorted([first.json["id"], plain.json["id"]])
    assert rows(notifications, tables.idempotency_keys) == 1


def test_a_retry_naming_the_same_days_otherwise_is_the_same_request(
        clients: dict[str, Client], receiver: WebhookReceiver) -> None:
    body = webhook(receiver.url, secret=receiver.secret, department="sales", mode="digest",
                   digest_schedule={"time": "09:00", "weekdays": ["monday", "friday"],
                                    "time_zone": "Europe/Berlin"})
    first = post(clients["crm"], body, "subscribe-days")
    assert first.status_code == 201, first.json
    assert first.json["digest_schedule"]["weekdays"] == ["monday", "friday"]
    for days in (["Friday", "MONDAY"], ["monday", "Monday", "friday"]):
        again = post(clients["crm"], {**body, "digest_schedule": {
            **body["digest_schedule"], "weekdays": days}}, "subscribe-days")
        assert again.status_code == 200, (days, again.json)
        assert again.json == first.json
    other_days = post(clients["crm"], {**body, "digest_schedule": {
        **body["digest_schedule"], "weekdays": ["monday"]}}, "subscribe-days")
    assert other_days.status_code == 422, other_days.json
    assert len(clients["admin"]("GET", "/v1/subscriptions").json) == 1


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
        clients: dict[str, Client], notifications: Notifications,
        receiver: WebhookReceiver) -> None:
    body = webhook(receiver.url, secret=receiver.secret, department="sales")
    assert post(clients["crm"], body, "subscribe-2").status_code == 201
    other = post(clients["crm"], {**body, "recipient": "Head of finance"}, "subscribe-2")
    assert other.status_code == 422, other.json
    assert other.mimetype == "application/problem+json"
    assert "Idempotency-Key" in other.json["detail"]
    assert len(clients["admin"]("GET", "/v1/subscriptions").json) == 1
    assert rows(notifications, tables.subscriptions) == 1


def test_keys_are_the_callers_own(clients: dict[str, Client], notifications: Notifications,
                                  receiver: WebhookReceiver) -> None:
    """Two tokens (and the bootstrap admin, which has no token id) using one key and body
    each subscribe once: none gets another's answer."""
    body = webhook(receiver.url, secret=receiver.secret, department="sales")
    answers = {name: post(clients[name], body, "the-same-key")
               for name in ("crm", "erp", "admin")}
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "crm": 201, "erp": 201, "admin": 201}
    assert len({answer.json["id"] for answer in answers.values()}) == 3
    assert all(REPLAYED not in answer.headers for answer in answers.values())
    assert rows(notifications, tables.subscriptions) == 3
    # and each one's retry is its own answer
    for name, answer in answers.items():
        assert post(clients[name], body, "the-same-key").json["id"] == answer.json["id"]


def test_a_refused_subscribe_keeps_no_key_so_a_corrected_retry_applies(
        clients: dict[str, Client], notifications: Notifications,
        receiver: WebhookReceiver) -> None:
    body = webhook(receiver.url, secret=receiver.secret, department="finance")
    refused = post(clients["sales"], body, "head-1")  # a head of sales, for finance
    assert refused.status_code == 403, refused.json
    assert rows(notifications, tables.idempotency_keys) == 0
    corrected = post(clients["sales"], {**body, "department": "sales"}, "head-1")
    assert corrected.status_code == 201, corrected.json
    assert corrected.json["department"] == "sales"


@pytest.mark.parametrize(("key", "why"), [
    ("k" * 201, "1 to 200"), ("", "1 to 200"), ("a\tb", "1 to 200"), ("a,b", "comma"),
    ("clé", "1 to 200"),
])
def test_malformed_keys_are_refused_before_anything_is_written(
        clients: dict[str, Client], notifications: Notifications, receiver: WebhookReceiver,
        key: str, why: str) -> None:
    body = webhook(receiver.url, secret=receiver.secret, department="sales")
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answer = clients["admin"].client.post("/v1/subscriptions", json=body, headers={
        **headers, "Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    assert answer.status_code == 400, answer.json
    assert why in answer.json["detail"]
    assert rows(notifications, tables.subscriptions) == 0


def test_concurrent_subscribes_with_one_key_over_real_http_subscribe_once(
        notifications: Notifications, goals_server: str, receiver: WebhookReceiver) -> None:
    token = mint_token(goals_server, "admin", name="racing seeder")
    app = create_app(container=notifications, introspector=TokenIntrospector(goals_server))
    body = webhook(receiver.url, secret=receiver.secret, department="sales")
    senders = 8
    start = threading.Barrier(senders)
    with served(app) as url:
        def send(_: int) -> requests.Response:
            start.wait(timeout=30)
            return requests.post(f"{url}/v1/subscriptions", json=body, timeout=60, headers={
                "Authorization": f"Bearer {token}", "Idempotency-Key": "storm"})

        with ThreadPoolExecutor(senders) as pool:
            answers = list(pool.map(send, range(senders)))
    assert sorted(answer.status_code for answer in answers) == [200] * (senders - 1) + [201]
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert sum(answer.headers.get(REPLAYED) == "true" for answer in answers) == senders - 1
    assert rows(notifications, tables.subscriptions) == 1
    assert rows(notifications, tables.idempotency_keys) == 1


def test_old_keys_are_forgotten_and_the_key_then_subscribes_anew(
        clients: dict[str, Client], notifications: Notifications,
        receiver: WebhookReceiver) -> None:
    body = webhook(receiver.url, secret=receiver.secret, department="sales")
    first = post(clients["crm"], body, "yearly")
    assert first.status_code == 201
    t = tables.idempotency_keys
    with notifications.engine.begin() as connection:  # the key was kept four days ago
        connection.execute(t.update().values(created_at=datetime.now(UTC) - timedelta(days=4)))
        connection.execute(t.insert(), [
            {"principal": "someone", "key": f"k{number}", "fingerprint": "f",
             "status_code": 201, "response": "{}",
             "created_at": datetime.now(UTC) - timedelta(hours=85 - 2 * number)}
            for number in range(12)])  # k0..k6 kept 85 to 73 h ago, k7..k11 71 to 63 h ago
    retention = timedelta(hours=72)
    assert purge_keys(notifications.unit_of_work, lambda uow: uow.idempotency, retention,
                      batch=3) == 8
    assert rows(notifications, t) == 5
    again = post(clients["crm"], body, "yearly")
    assert again.status_code == 201
    assert again.json["id"] != first.json["id"]


def test_the_openapi_document_describes_the_key(clients: dict[str, Client]) -> None:
    document = clients["admin"].client.get("/openapi.json").json
    operation = document["paths"]["/v1/subscriptions"]["post"]
    assert "Idempotency-Key" in [parameter["name"] for parameter in operation["parameters"]]
    assert {"200", "201"} <= set(operation["responses"])
