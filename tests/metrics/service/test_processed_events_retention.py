"""Exactly-once holds inside the processed-event retention: after the housekeeping purge
forgot the ids older than ``OKR_PROCESSED_EVENTS_RETENTION_HOURS``, a redelivered event
whose id is younger is still dropped (real consumer, real broker, each database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from services.metrics.adapters import tables
from services.metrics.bootstrap import Metrics
from services.metrics.config import SERVICE
from shared.runtime.housekeeping import purge_all
from tests.metrics import goal_events as ge
from tests.metrics.conftest import processed_count, wait_for
from tests.metrics.goal_events import GoalsTopic

pytestmark = pytest.mark.timeout(90)

PROCESSED = tables.plumbing.processed_events


def _check_ins_counted(metrics: Metrics) -> dict[str, int]:
    with metrics.engine.connect() as connection:
        return dict(connection.execute(select(tables.checkin_counters.c.department,
                                              tables.checkin_counters.c.count)).all())


def test_a_redelivered_event_inside_the_window_is_dropped_after_older_ids_were_purged(
        metrics: Metrics, goals_topic: GoalsTopic, run_in_background: Any) -> None:
    own, kr = ge.new_id(), ge.new_id()
    setup = [ge.cycle(), ge.objective(own, ["sales"]), ge.key_result(kr, own)]
    checked = ge.check_in(kr, own, version=2, value=40.0)
    goals_topic.send(*setup, checked)
    projection = metrics.projection()
    projection.load()
    run_in_background(metrics.consumer(projection).run)
    wait_for(lambda: processed_count(metrics) == 4, 30, "4 events applied")

    # the set-up events were applied long ago, the check-in recently
    window = timedelta(hours=metrics.config.processed_events_retention_hours)
    with metrics.engine.begin() as connection:
        connection.execute(update(PROCESSED)
                           .where(PROCESSED.c.event_id.in_([event.id for event in setup]))
                           .values(processed_at=datetime.now(UTC) - window * 2))
    assert purge_all(SERVICE, metrics.purges()) == {"processed_events": 3}
    assert processed_count(metrics) == 1

    goals_topic.send(checked, ge.check_in(kr, own, version=3, value=60.0))  # a redelivery
    wait_for(lambda: processed_count(metrics) == 2, 30, "the new check-in applied")
    assert _check_ins_counted(metrics) == {"sales": 2}  # the redelivered one counted once
