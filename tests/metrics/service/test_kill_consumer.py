"""``kill -9`` of ``okr-metrics consume`` (a real process, PostgreSQL) mid-stream: the
standby that waited beside it takes over, every roll-up is right and no event was applied
twice."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from services.metrics.adapters import tables
from services.metrics.bootstrap import Metrics, bootstrap
from services.metrics.config import MetricsConfig
from services.metrics.entrypoints.cli import MIGRATIONS
from services.metrics.service_layer.rebuild import rebuild
from shared.persistence.migrations import upgrade_to_head
from tests.metrics import goal_events as ge
from tests.metrics.conftest import metrics_environment, okr_metrics, processed_count, wait_for
from tests.metrics.goal_events import GoalsTopic
from tests.metrics.service.test_rebuild import read_model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

OBJECTIVES = 6
CHECK_INS_PER_KEY_RESULT = 500


@pytest.mark.parametrize("metrics_database_url", ["postgresql", "sqlite"], indirect=True)
def test_consumer_killed_mid_stream_its_standby_resumes_with_right_rollups_once_each(
        metrics: Metrics, metrics_config: MetricsConfig, goals_topic: GoalsTopic,
        processes: Any, tmp_path: Path) -> None:
    target = ge.new_id()
    goals_topic.send(ge.cycle(), ge.objective(target, ["marketing", "sales"]), key=target)
    environment = {**metrics_environment(metrics_config), "OKR_METRICS_BATCH_SIZE": "50",
                   "OKR_KAFKA_SESSION_TIMEOUT_MS": "3000", "OKR_METRICS_WORKER_METRICS_PORT": "0",
                   "OKR_METRICS_STATUS_TICK_SECONDS": "0"}
    first = processes([okr_metrics(), "consume"], environment, "consumer")
    wait_for(lambda: processed_count(metrics) >= 2 or not first.alive(), 60,
             "the consumer to start")
    # A second consumer started beside it (scaled up by mistake) only waits, as a standby,
    # and a rebuild of the same database is refused while a consumer runs.
    standby = processes([okr_metrics(), "consume"], environment, "standby")
    wait_for(lambda: "waiting for the metrics consumer lease" in standby.output()
             or not standby.alive(), 30, "the second consumer to wait")
    assert standby.alive(), standby.output()
    refused = subprocess.run([okr_metrics(), "rebuild"], env={**os.environ, **environment},
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0 and "stop `okr-metrics consume` first" in refused.stderr

    total, check_ins = 2, 0
    for number in range(OBJECTIVES):
        objective, kr = ge.new_id(), ge.new_id()
        events = [ge.objective(objective, ["sales" if number % 2 else "marketing"]),
                  ge.key_result(kr, objective),
                  ge.contribution(ge.new_id(), "objective", objective, "objective", target)]
        events += [ge.check_in(kr, objective, v, float(v % 101), confidence=0.5)
                   for v in range(2, CHECK_INS_PER_KEY_RESULT + 2)]
        goals_topic.send(*events, key=objective)
        total += len(events)
        check_ins += CHECK_INS_PER_KEY_RESULT
    wait_for(lambda: processed_count(metrics) >= 300 or not first.alive(), 60,
             "the consumer to apply part of the events")
    assert first.alive(), first.output()
    # the standby has waited while the first ran (read before the kill: once it is killed,
    # the standby may take the lease within its next poll, before the lines below)
    assert "holds the metrics consumer lease" not in standby.output()
    first.kill9()
    at_kill = processed_count(metrics)
    assert 0 < at_kill < total, at_kill

    # The standby takes over and finishes the stream.
    wait_for(lambda: processed_count(metrics) >= total or not standby.alive(), 90,
             f"all {total} events applied")
    assert "holds the metrics consumer lease" in standby.output()
    assert standby.terminate() == 0, standby.output()

    with metrics.engine.connect() as connection:
        counted = connection.execute(select(func.sum(tables.checkin_counters.c.count))
                                     ).scalar_one()
    assert processed_count(metrics) == total
    assert counted == check_ins  # a check-in applied twice would be counted twice

    # The right roll-ups: what a replay of the whole topic into a fresh model computes.
    fresh = dataclasses.replace(metrics_config, database_url=f"sqlite:///{tmp_path}/fresh.db")
    upgrade_to_head(MIGRATIONS, fresh.database_url)
    reference = bootstrap(fresh)
    rebuild(reference, lambda _line: None)
    live, replayed = read_model(metrics.engine), read_model(reference.engine)
    reference.engine.dispose()
    # every row, the forecast's check-in windows included (``forecast.merged``: a window
    # is a function of the events, however the killed consumer and its standby batched them)
    assert live == replayed
