"""Rebuild: replaying okr.goals.v1 into an empty read model gives the live read model."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from services.metrics.adapters import tables
from services.metrics.bootstrap import Metrics, bootstrap
from services.metrics.config import MetricsConfig
from services.metrics.entrypoints.cli import MIGRATIONS
from services.metrics.service_layer.rebuild import rebuild
from shared.persistence.migrations import upgrade_to_head
from tests.metrics import goal_events as ge
from tests.metrics.conftest import processed_count, wait_for
from tests.metrics.goal_events import GoalsTopic

pytestmark = pytest.mark.timeout(90)


def read_model(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, without when it was written: the time, and the serial of the
    write (batches differ between a live consumer and a replay)."""
    with engine.connect() as connection:
        return {table.name: sorted(
            tuple(value for column, value in row._mapping.items()
                  if column not in ("updated_at", "written"))
            for row in connection.execute(select(table)))
            for table in tables.READ_MODEL_TABLES}


def test_rebuild_from_replay_equals_the_live_read_model(
        metrics: Metrics, metrics_config: MetricsConfig, goals_topic: GoalsTopic,
        run_in_background: Any, tmp_path: Path) -> None:
    target, objectives = ge.new_id(), [ge.new_id() for _ in range(3)]
    events = [ge.cycle(), ge.objective(target, ["marketing", "sales"])]
    for number, objective in enumerate(objectives):
        kr, summed = ge.new_id(), ge.new_id()
        events += [ge.objective(objective, ["sales"]), ge.key_result(kr, objective),
                   ge.key_result(summed, target, aggregation="sum", target=300.0),
                   ge.contribution(ge.new_id(), "objective", objective, "objective", target,
                                   weight=number + 1.0),
                   ge.contribution(ge.new_id(), "key_result", kr, "key_result", summed),
                   ge.link(ge.new_id(), objective, "sales", "objective", target, "marketing"),
                   *[ge.check_in(kr, objective, v, 7.0 * v * (number + 1), confidence=0.6)
                     for v in range(2, 8)]]
    events += [ge.key_result_deleted(ge.new_id(), objectives[0], version=2),
               ge.objective(objectives[2], ["sales"], version=2, deleted=True)]
    goals_topic.send(*events[: len(events) // 2], key=target)
    goals_topic.send(*events[len(events) // 2:], key=target)
    projection = metrics.projection()
    projection.load()
    run_in_background(metrics.consumer(projection).run)
    wait_for(lambda: processed_count(metrics) == len(events), 30, "the live read model")
    live = read_model(metrics.engine)
    assert live["objectives"] and live["key_results"] and live["links"]
    with metrics.engine.connect() as connection:
        kept = connection.execute(select(tables.objectives.c.outlook)).scalars().all()
    assert kept and all(kept)  # every objective's outlook (parts, forecast, why): rebuilt too

    fresh = dataclasses.replace(metrics_config, database_url=f"sqlite:///{tmp_path}/fresh.db")
    upgrade_to_head(MIGRATIONS, fresh.database_url)
    rebuilt = bootstrap(fresh)
    lines: list[str] = []
    counts = rebuild(rebuilt, lines.append)
    assert counts == {"applied": len(events), "duplicate": 0, "skipped": 0}
    assert lines and "replayed" in lines[-1]
    assert read_model(rebuilt.engine) == live
    assert processed_count(rebuilt) == len(events)

    # Rebuilding in place (truncate, then replay) gives the same again.
    rebuild(metrics, lines.append)
    assert read_model(metrics.engine) == live
    rebuilt.engine.dispose()


def test_a_copy_of_an_event_far_down_the_topic_is_a_duplicate_not_applied_twice(
        metrics: Metrics, metrics_config: MetricsConfig, goals_topic: GoalsTopic,
        run_in_background: Any, tmp_path: Path) -> None:
    """A relay re-publishing after a crash, or a producer's retry, puts a second copy of an
    event anywhere later in the topic: the rebuild tells it by the ids it has recorded in
    the database (no set of every id in memory), in another batch as in the same one."""
    objective, kr = ge.new_id(), ge.new_id()
    check_ins = [ge.check_in(kr, objective, v, 10.0 * v) for v in range(1, 7)]
    events = [ge.cycle(), ge.objective(objective, ["sales"]), ge.key_result(kr, objective),
              *check_ins]
    copies = [check_ins[0], check_ins[3], check_ins[3]]
    goals_topic.send(*events, *copies, key=objective)
    projection = metrics.projection()
    projection.load()
    run_in_background(metrics.consumer(projection).run)
    wait_for(lambda: processed_count(metrics) == len(events), 30, "the live read model")
    live = read_model(metrics.engine)

    fresh = dataclasses.replace(metrics_config, database_url=f"sqlite:///{tmp_path}/fresh.db")
    upgrade_to_head(MIGRATIONS, fresh.database_url)
    rebuilt = bootstrap(fresh)
    counts = rebuild(rebuilt, lambda line: None, batch_size=2)
    assert counts == {"applied": len(events), "duplicate": len(copies), "skipped": 0}
    assert read_model(rebuilt.engine) == live
    assert processed_count(rebuilt) == len(events)
    rebuilt.engine.dispose()
