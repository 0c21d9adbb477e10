"""Retried check-ins are applied once (``Idempotency-Key``), alone and in batches.

On SQLite and PostgreSQL; the concurrent retries go through a real gunicorn over HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from bench.http_load import Reply, Server
from services.goals.adapters import tables
from services.goals.bootstrap import Goals
from services.goals.config import SERVICE
from services.goals.service_layer import housekeeping
from services.goals.service_layer.housekeeping import purge_idempotency_keys
from shared.runtime.housekeeping import housekeeping_loop
from tests.conftest import ApiClient
from tests.goals.concurrency.conftest import (
    ADMIN,
    Seeded,
    count_rows,
    events_of,
    http_client,
)

CHECKED_IN = "okr.key_result.checked_in"
BODY = {"value": 250.0, "confidence": 0.8, "note": "CRM sync"}


def check_ins_of(goals: Goals, key_result_id: str | None = None) -> int:
    where = [] if key_result_id is None else [tables.check_ins.c.key_result_id == key_result_id]
    return count_rows(goals, tables.check_ins, *where)


def state(api: ApiClient, goals: Goals, key_result_id: str) -> tuple[Any, ...]:
    key_result = api.get(f"/v1/key-results/{key_result_id}").get_json()
    return (key_result["current"], key_result["confidence"], key_result["version"],
            check_ins_of(goals), events_of(goals, CHECKED_IN),
            count_rows(goals, tables.idempotency_keys))


def test_a_retry_with_the_same_key_and_body_is_applied_once(
        api: ApiClient, goals: Goals, seeded_goals: Seeded) -> None:
    key_result = seeded_goals.key_result_ids[0]
    path = f"/v1/key-results/{key_result}/check-ins"
    headers = {"Idempotency-Key": "crm-sync-0001"}
    first = api.post(path, json=BODY, headers=headers)
    retry = api.post(path, json=BODY, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.get_data() == first.get_data()
    assert first.get_json()["key_result"]["current"] == 250.0
    assert check_ins_of(goals, key_result) == 1
    assert events_of(goals, CHECKED_IN) == 1
    history = api.get(path).get_json()
    assert [item["id"] for item in history] == [first.get_json()["id"]]


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
        api: ApiClient, goals: Goals, seeded_goals: Seeded) -> None:
    key_result = seeded_goals.key_result_ids[0]
    path = f"/v1/key-results/{key_result}/check-ins"
    headers = {"Idempotency-Key": "crm-sync-0002"}
    assert api.post(path, json=BODY, headers=headers).status_code == 201
    before = state(api, goals, key_result)
    other = api.post(path, json={**BODY, "value": 999.0}, headers=headers)
    assert other.status_code == 422
    assert other.mimetype == "application/problem+json"
    assert "Idempotency-Key" in other.get_json()["detail"]
    assert state(api, goals, key_result) == before
    assert api.get(f"/v1/key-results/{key_result}").get_json()["current"] == 250.0


def test_concurrent_retries_over_gunicorn_apply_one_check_in(
        api: ApiClient, goals: Goals, seeded_goals: Seeded, served: Server) -> None:
    key_result = seeded_goals.key_result_ids[1]
    retries = 10
    start = threading.Barrier(retries)

    def send(_: int) -> Reply:
        client = http_client(served)
        try:
            start.wait()
            return client.request("POST", f"/v1/key-results/{key_result}/check-ins", BODY,
                                  {"Idempotency-Key": "crm-retry-storm"})
        finally:
            client.close()

    with ThreadPoolExecutor(retries) as pool:
        replies = list(pool.map(send, range(retries)))

    assert sorted(reply.status for reply in replies) == [200] * (retries - 1) + [201], [
        (reply.status, reply.body[:200]) for reply in replies]
    assert len({reply.json()["id"] for reply in replies}) == 1
    assert len({reply.body for reply in replies}) == 1
    assert check_ins_of(goals, key_result) == 1
    assert events_of(goals, CHECKED_IN) == 1
    body = api.get(f"/v1/key-results/{key_result}").get_json()
    assert (body["current"], body["version"]) == (250.0, 2)


# -- POST /v1/check-ins/batch ----------------------------------------------------------------

def batch(api: ApiClient, items: list[dict[str, Any]]) -> Any:
    return api.post("/v1/check-ins/batch", json={"items": items})


def test_a_batch_answers_per_item_and_a_failing_item_does_not_stop_the_others(
        api: ApiClient, goals: Goals, seeded_goals: Seeded) -> None:
    first, second, _ = seeded_goals.key_result_ids
    response = batch(api, [
        {"key_result_id": first, "value": 10.0},
        {"key_result_id": "no-such-key-result", "value": 1.0},
        {"key_result_id": second, "value": 20.0, "confidence": 0.5},
    ])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["applied"], body["failed"]) == (2, 1)
    assert [(r["index"], r["status"]) for r in body["results"]] == [(0, 201), (1, 404), (2, 201)]
    assert body["results"][1]["error"]["status"] == 404
    assert body["results"][0]["check_in"]["key_result"]["current"] == 10.0
    assert api.get(f"/v1/key-results/{second}").get_json()["current"] == 20.0
    assert check_ins_of(goals) == 2
    assert events_of(goals, CHECKED_IN) == 2


def test_batch_items_with_an_idempotency_key_are_applied_once(
        api: ApiClient, goals: Goals, seeded_goals: Seeded) -> None:
    first, second, _ = seeded_goals.key_result_ids
    items = [{"key_result_id": first, "value": 5.0, "idempotency_key": "erp-1"},
             {"key_result_id": second, "value": 6.0, "idempotency_key": "erp-2"}]
    sent = batch(api, items).get_json()
    assert [r["status"] for r in sent["results"]] == [201, 201]
    retried = batch(api, [*items, {"key_result_id": first, "value": 7.0,
                                   "idempotency_key": "erp-1"}]).get_json()
    assert [r["status"] for r in retried["results"]] == [200, 200, 422]
    assert [r["check_in"] for r in retried["results"][:2]] == [
        r["check_in"] for r in sent["results"]]
    assert (retried["applied"], retried["failed"]) == (2, 1)
    assert check_ins_of(goals) == 2
    assert events_of(goals, CHECKED_IN) == 2
    assert api.get(f"/v1/key-results/{first}").get_json()["current"] == 5.0
    # A key sent as a single check-in's header and as a batch item's key is the same key.
    single = api.post(f"/v1/key-results/{second}/check-ins", json={"value": 6.0},
                      headers={"Idempotency-Key": "erp-2"})
    assert single.status_code in (200, 422)
    assert check_ins_of(goals) == 2


@pytest.mark.parametrize("key", ["a,b", "clé", "   ", "k" * 201])
def test_a_batch_items_key_follows_the_headers_rule(
        api: ApiClient, goals: Goals, seeded_goals: Seeded, key: str) -> None:
    # An outside attack: "a,b" was taken in a batch item, though the header refuses it
    first, _, _ = seeded_goals.key_result_ids
    refused = batch(api, [{"key_result_id": first, "value": 5.0, "idempotency_key": key}])
    assert refused.status_code == 422, refused.get_json()
    assert refused.mimetype == "application/problem+json"
    assert "idempotency key" in json.dumps(refused.get_json())
    assert check_ins_of(goals) == 0


def test_a_batch_of_a_thousand_is_accepted_and_one_more_is_refused(
        api: ApiClient, goals: Goals, seeded_goals: Seeded) -> None:
    key_results = seeded_goals.key_result_ids
    items = [{"key_result_id": key_results[i % 3], "value": float(i)} for i in range(1000)]
    too_many = batch(api, [*items, {"key_result_id": key_results[0], "value": 1.0}])
    assert too_many.status_code == 422
    assert too_many.mimetype == "application/problem+json"
    assert check_ins_of(goals) == 0
    response = batch(api, items)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["applied"], body["failed"]) == (1000, 0)
    assert {r["status"] for r in body["results"]} == {201}
    assert check_ins_of(goals) == 1000
    assert events_of(goals, CHECKED_IN) == 1000
    assert api.get(f"/v1/key-results/{key_results[0]}").get_json()["current"] == 999.0


def test_concurrent_batches_over_the_same_key_results_in_any_order_all_apply(
        goals_app: Flask, api: ApiClient, goals: Goals, seeded_goals: Seeded) -> None:
    """Batches lock their key results; two that name them in opposite orders must not
    deadlock (PostgreSQL would abort one of them with a 500)."""
    key_results = seeded_goals.key_result_ids
    senders, per_batch = 6, 30
    start = threading.Barrier(senders)

    def send(number: int) -> tuple[int, Any]:
        order = key_results if number % 2 else key_results[::-1]
        items = [{"key_result_id": order[i % 3], "value": float(number)}
                 for i in range(per_batch)]
        client = goals_app.test_client()
        start.wait()
        response = client.post("/v1/check-ins/batch", data=json.dumps({"items": items}),
                               content_type="application/json",
                               headers=ADMIN)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(senders) as pool:
        results = list(pool.map(send, range(senders)))
    assert [status for status, _ in results] == [200] * senders, results
    assert all(body["applied"] == per_batch for _, body in results)
    assert check_ins_of(goals) == senders * per_batch
    assert events_of(goals, CHECKED_IN) == senders * per_batch


# -- retention: keys are forgotten after OKR_IDEMPOTENCY_RETENTION_HOURS -----------------------

def _age_keys(goals: Goals, hours: float) -> None:
    t = tables.idempotency_keys
    with goals.engine.begin() as connection:
        for row in connection.execute(select(t.c.principal, t.c.key, t.c.created_at)).all():
            connection.execute(update(t).where(t.c.principal == row.principal, t.c.key == row.key)
                               .values(created_at=row.created_at - timedelta(hours=hours)))


def test_keys_older_than_the_retention_are_forgotten_and_newer_kept(
        api: ApiClient, goals: Goals, seeded_goals: Seeded) -> None:
    key_result = seeded_goals.key_result_ids[0]
    path = f"/v1/key-results/{key_result}/check-ins"
    for number in range(3):
        assert api.post(path, json=BODY, headers={"Idempotency-Key": f"old-{number}"}
                        ).status_code == 201
    _age_keys(goals, 73)
    assert api.post(path, json=BODY, headers={"Idempotency-Key": "recent"}).status_code == 201

    assert purge_idempotency_keys(goals.unit_of_work, timedelta(hours=72)) == 3
    assert count_rows(goals, tables.idempotency_keys) == 1
    assert api.post(path, json=BODY, headers={"Idempotency-Key": "recent"}).status_code == 200
    # past the retention the same key is a new check-in
    assert api.post(path, json=BODY, headers={"Idempotency-Key": "old-0"}).status_code == 201
    assert check_ins_of(goals, key_result) == 5
    assert purge_idempotency_keys(goals.unit_of_work, timedelta(hours=72)) == 0


def test_a_large_backlog_is_purged_in_batches(
        goals: Goals, seeded_goals: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(housekeeping, "PURGE_BATCH", 7)
    t = tables.idempotency_keys
    old = datetime.now(UTC) - timedelta(days=10)
    with goals.engine.begin() as connection:
        connection.execute(t.insert(), [
            {"principal": "crm", "key": f"k{number}", "fingerprint": "f", "status_code": 201,
             "response": "{}", "created_at": old} for number in range(30)])
    assert purge_idempotency_keys(goals.unit_of_work, timedelta(hours=72)) == 30
    assert count_rows(goals, t) == 0


def test_the_relay_process_runs_the_purge(goals: Goals, seeded_goals: Seeded,
                                          run_in_background: Any) -> None:
    t = tables.idempotency_keys
    with goals.engine.begin() as connection:
        connection.execute(t.insert().values(
            principal="crm", key="k", fingerprint="f", status_code=201, response="{}",
            created_at=datetime.now(UTC) - timedelta(days=4)))
    run_in_background(housekeeping_loop(SERVICE, goals.purges(), interval_seconds=0.05))
    deadline = time.monotonic() + 10
    while count_rows(goals, t) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert count_rows(goals, t) == 0
