"""Optimistic concurrency: of many writers holding the same ETag, exactly one wins."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from services.goals.bootstrap import Goals
from tests.conftest import ADMIN_TOKEN
from tests.goals.api.conftest import snapshot

WRITERS = 20


def test_one_of_twenty_concurrent_renames_with_the_same_etag_wins(
    goals_app: Flask, seeded: Goals
) -> None:
    etag = goals_app.test_client().get(
        "/v1/departments/sales", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ).headers["ETag"]
    before = snapshot(seeded)["counts"]
    start = threading.Barrier(WRITERS)

    def rename(number: int) -> tuple[int, str, int, str | None]:
        client = goals_app.test_client()  # one app, a client per thread
        start.wait()
        response = client.patch("/v1/departments/sales", json={"name": f"Sales {number}"},
                                headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                                         "If-Match": etag})
        return number, f"Sales {number}", response.status_code, response.mimetype

    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(rename, range(WRITERS)))

    statuses = sorted(status for _, _, status, _ in results)
    assert statuses == [200] + [412] * (WRITERS - 1), results
    assert all(mimetype == "application/problem+json"
               for _, _, status, mimetype in results if status == 412)
    (winner,) = [name for _, name, status, _ in results if status == 200]
    stored = goals_app.test_client().get(
        "/v1/departments/sales", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert stored.get_json()["name"] == winner
    assert stored.get_json()["version"] == 2
    after = snapshot(seeded)["counts"]
    assert {table: after[table] - before[table] for table in after} == {
        "outbox_events": 1, "audit_log": 1}
