"""The status tick: expected progress moves with time, so statuses change without events.
A fake clock (the clock port) moves time; the database and the outbox are real."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from services.metrics.adapters import tables
from services.metrics.bootstrap import Metrics
from services.metrics.service_layer.projection import RollupProjection
from shared.clock import FakeClock
from shared.contract import EventType
from shared.persistence import engine as engine_module
from tests.conftest import handled_error_counts
from tests.metrics import goal_events as ev
from tests.metrics.conftest import objective_row, wait_for

pytestmark = pytest.mark.timeout(60)


def _status_changes(metrics: Metrics) -> list[dict[str, Any]]:
    outbox = tables.plumbing.outbox
    with metrics.engine.connect() as connection:
        payloads = connection.execute(
            select(outbox.c.payload).where(
                outbox.c.event_type == EventType.OBJECTIVE_STATUS_CHANGED.value)
            .order_by(outbox.c.position)).scalars().all()
    return [json.loads(payload) for payload in payloads]


def _an_objective_a_fifth_done(metrics: Metrics, clock: FakeClock
                               ) -> tuple[RollupProjection, str]:
    """A projection loaded at ``clock``'s time, and an objective of Q4 it applied whose one
    key result is 0.2 of the way; the objective's id."""
    projection = metrics.projection(clock=clock)
    projection.load()
    objective_id, key_result_id = ev.new_id(), ev.new_id()
    metrics.consumer(projection).apply_batch([
        ev.cycle(), ev.objective(objective_id, ["sales"]),
        ev.key_result(key_result_id, objective_id, current=20)])
    return projection, objective_id


def test_status_tick_publishes_status_changed_when_time_alone_moves_an_objective(
        metrics: Metrics, run_in_background: Any) -> None:
    clock = FakeClock(datetime(2026, 10, 2, tzinfo=UTC))
    projection, objective_id = _an_objective_a_fifth_done(metrics, clock)
    assert objective_row(metrics, objective_id).status == "on_track"
    assert [event["data"]["status"] for event in _status_changes(metrics)] == ["on_track"]

    ticking = threading.Event()
    original = projection.reassess

    def counted() -> int:
        moved = original()
        ticking.set()
        return moved
    projection.reassess = counted  # type: ignore[method-assign]
    run_in_background(projection.run_status_ticks(0.05))
    wait_for(ticking.is_set, 10, "a status tick")
    assert len(_status_changes(metrics)) == 1  # nothing moved: nothing published

    clock.now = datetime(2026, 10, 31, tzinfo=UTC)  # a third of Q4 gone, 0.2 done
    wait_for(lambda: len(_status_changes(metrics)) == 2, 10, "the tick to publish")
    change = _status_changes(metrics)[1]
    assert change["subject"] == f"objective/{objective_id}"
    assert change["data"]["status"] == "at_risk"
    assert change["data"]["previous_status"] == "on_track"
    assert change["data"]["cause_event_id"] is None
    assert change["data"]["expected_progress"] > 0.3
    assert objective_row(metrics, objective_id).status == "at_risk"

    clock.now = datetime(2026, 11, 16, tzinfo=UTC)  # half of Q4 gone
    wait_for(lambda: len(_status_changes(metrics)) == 3, 10, "the next status change")
    assert _status_changes(metrics)[2]["data"]["previous_status"] == "at_risk"
    assert _status_changes(metrics)[2]["data"]["status"] == "off_track"
    assert objective_row(metrics, objective_id).status == "off_track"


@pytest.mark.parametrize("metrics_database_url", ["sqlite"], indirect=True)
@pytest.mark.handled_errors("status_tick_failed")
def test_a_tick_the_database_cannot_take_is_tried_again_not_the_end_of_the_loop(
        metrics: Metrics, metrics_database_url: str, run_in_background: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # An outside attack: under load, a status tick met "database is locked" and its
    # exception stopped okr-metrics consume (the process exited 1 and was restarted).
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 50)
    metrics.engine.dispose()  # connections made from here on wait 50 ms for a lock
    clock = FakeClock(datetime(2026, 10, 2, tzinfo=UTC))
    projection, objective_id = _an_objective_a_fifth_done(metrics, clock)
    failed_before = _tick_failures()

    blocker = sqlite3.connect(make_url(metrics_database_url).database, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # no other connection may read or write now
    loop = threading.Thread(target=projection.run_status_ticks(0.05), args=(threading.Event(),),
                            daemon=True)
    loop.start()
    try:
        wait_for(lambda: _tick_failures() >= failed_before + 2, 20, "ticks failing on the lock")
        assert loop.is_alive()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    clock.now = datetime(2026, 10, 31, tzinfo=UTC)  # a third of Q4 gone, 0.2 done
    wait_for(lambda: objective_row(metrics, objective_id).status == "at_risk", 20,
             "a tick after the lock")
    assert loop.is_alive()


def _tick_failures() -> float:
    return handled_error_counts().get(("metrics", "status_tick_failed"), 0.0)


def test_a_status_time_moved_while_the_consumer_was_down_is_written_and_told_after_a_restart(
        metrics: Metrics) -> None:
    # An outside attack: the load judged every status at the moment of loading, so a
    # status that time moved while the consumer was down (or around a reload after a
    # failed write) was already "moved" in the graph: no tick wrote it or told it, and the
    # read model kept the old status while a rebuild had the new one.
    before = FakeClock(datetime(2026, 10, 2, tzinfo=UTC))
    _, objective_id = _an_objective_a_fifth_done(metrics, before)
    assert objective_row(metrics, objective_id).status == "on_track"

    restarted = metrics.projection(clock=FakeClock(datetime(2026, 10, 31, tzinfo=UTC)))
    restarted.load()  # a third of Q4 gone while it was down: at risk now
    assert objective_row(metrics, objective_id).status == "on_track"  # as written
    assert restarted.reassess() == 1
    assert objective_row(metrics, objective_id).status == "at_risk"
    change = _status_changes(metrics)[-1]
    assert change["subject"] == f"objective/{objective_id}"
    assert (change["data"]["previous_status"], change["data"]["status"]) == (
        "on_track", "at_risk")
    assert restarted.reassess() == 0  # told once
