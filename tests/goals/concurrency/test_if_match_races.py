"""Fifty writers holding the same ETag: exactly one update wins, the others get 412.

Run through the Flask test client (one app, a client per thread) and through a real
gunicorn (two worker processes, eight threads each) over HTTP, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask

from bench.http_load import Server
from services.goals.bootstrap import Goals
from tests.conftest import ADMIN_TOKEN
from tests.goals.concurrency.conftest import ADMIN, Seeded, events_of, http_client

WRITERS = 50
PROBLEM = "application/problem+json"


def race(send: Callable[[int], tuple[int, str]]) -> list[tuple[int, int, str]]:
    """Call ``send(number)`` from ``WRITERS`` threads released together; (number, status,
    content type) of each."""
    start = threading.Barrier(WRITERS)

    def one(number: int) -> tuple[int, int, str]:
        start.wait()
        status, content_type = send(number)
        return number, status, content_type

    with ThreadPoolExecutor(WRITERS) as pool:
        return list(pool.map(one, range(WRITERS)))


def winner_of(results: list[tuple[int, int, str]]) -> int:
    statuses = sorted(status for _, status, _ in results)
    assert statuses == [200] + [412] * (WRITERS - 1), sorted(results)
    assert all(content_type.startswith(PROBLEM)
               for _, status, content_type in results if status == 412), results
    (winner,) = [number for number, status, _ in results if status == 200]
    return winner


def flask_sender(app: Flask, path: str, field: str) -> Callable[[int], tuple[int, str]]:
    def send(number: int) -> tuple[int, str]:
        response = app.test_client().patch(
            path, json={field: f"Title from writer {number}"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "If-Match": '"1"'})
        return response.status_code, response.content_type or ""
    return send


def http_sender(server: Server, path: str, field: str) -> Callable[[int], tuple[int, str]]:
    def send(number: int) -> tuple[int, str]:
        client = http_client(server)
        try:
            reply = client.request("PATCH", path, {field: f"Title from writer {number}"},
                                   {"If-Match": '"1"'})
        finally:
            client.close()
        return reply.status, reply.headers.get("content-type", "")
    return send


def stored(app: Flask, path: str) -> dict[str, Any]:
    response = app.test_client().get(path, headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    body: dict[str, Any] = response.get_json()
    return body


def test_fifty_concurrent_objective_updates_with_one_etag_one_wins(
        goals_app: Flask, goals: Goals, seeded_goals: Seeded) -> None:
    path = f"/v1/objectives/{seeded_goals.objective_id}"
    winner = winner_of(race(flask_sender(goals_app, path, "title")))
    body = stored(goals_app, path)
    assert (body["title"], body["version"]) == (f"Title from writer {winner}", 2)
    assert events_of(goals, "okr.objective.updated") == 1


def test_fifty_concurrent_key_result_updates_with_one_etag_one_wins(
        goals_app: Flask, goals: Goals, seeded_goals: Seeded) -> None:
    path = f"/v1/key-results/{seeded_goals.key_result_ids[0]}"
    winner = winner_of(race(flask_sender(goals_app, path, "title")))
    body = stored(goals_app, path)
    assert (body["title"], body["version"]) == (f"Title from writer {winner}", 2)
    assert events_of(goals, "okr.key_result.updated") == 1


def test_fifty_concurrent_updates_over_gunicorn_one_wins_each(
        goals_app: Flask, goals: Goals, seeded_goals: Seeded, served: Server) -> None:
    objective = f"/v1/objectives/{seeded_goals.objective_id}"
    key_result = f"/v1/key-results/{seeded_goals.key_result_ids[1]}"
    objective_winner = winner_of(race(http_sender(served, objective, "title")))
    key_result_winner = winner_of(race(http_sender(served, key_result, "title")))

    body = stored(goals_app, objective)
    assert (body["title"], body["version"]) == (f"Title from writer {objective_winner}", 2)
    body = stored(goals_app, key_result)
    assert (body["title"], body["version"]) == (f"Title from writer {key_result_winner}", 2)
    assert events_of(goals, "okr.objective.updated") == 1
    assert events_of(goals, "okr.key_result.updated") == 1
