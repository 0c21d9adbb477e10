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
from services.metrics.service_layer.rebuild import CHUNK_EVENTS, rebuild
from shared.messaging.consumer import UnprocessableEvent
from shared.persistence.migrations import upgrade_to_head
from tests.metrics import goal_events as ge
from tests.metrics.conftest import metrics_environment, okr_metrics, processed_count, wait_for
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


@pytest.mark.parametrize(("batch_size", "chunk_events"), [(2000, CHUNK_EVENTS), (3, 7)],
                         ids=["one-chunk", "chunks-of-7"])
def test_rebuild_from_replay_equals_the_live_read_model(
        metrics: Metrics, metrics_config: MetricsConfig, goals_topic: GoalsTopic,
        run_in_background: Any, tmp_path: Path, batch_size: int, chunk_events: int) -> None:
    """Whether the whole topic is one chunk or a chunk ends anywhere (7 events: not a
    multiple of the fetch's 3, one chunk's write before the next chunk's events of the
    same items), the rebuilt read model is the live consumer's, row for row."""
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
    counts = rebuild(rebuilt, lines.append, batch_size, chunk_events)
    assert counts == {"applied": len(events), "duplicate": 0, "skipped": 0}
    assert (len(lines) == 1) == (chunk_events >= len(events))  # a line a chunk
    assert "replayed" in lines[-1]
    assert read_model(rebuilt.engine) == live
    assert processed_count(rebuilt) == len(events)

    # Rebuilding in place (truncate, then replay) gives the same again.
    rebuild(metrics, lines.append, batch_size, chunk_events)
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


@pytest.mark.handled_errors("consumer_batch_fallback", "dead_lettered")  # the live consumer's
def test_an_unprocessable_event_in_a_chunk_is_skipped_and_the_rest_applied(
        metrics: Metrics, metrics_config: MetricsConfig, goals_topic: GoalsTopic,
        run_in_background: Any, tmp_path: Path) -> None:
    """A check-in at a version the goals service could not have written (the live consumer
    dead-letters it) refuses its whole chunk: the chunk is applied again fetch by fetch,
    that fetch event by event, and only that event is left out."""
    objective, kr, other = ge.new_id(), ge.new_id(), ge.new_id()
    events = [ge.cycle(), ge.objective(objective, ["sales"]), ge.key_result(kr, objective),
              ge.key_result(other, objective),
              *[ge.check_in(kr, objective, v, 5.0 * v) for v in range(2, 6)],
              ge.check_in(other, objective, 40, 99.0),  # 40 after 1: forged
              *[ge.check_in(other, objective, v, 3.0 * v) for v in range(2, 9)]]
    goals_topic.send(*events, key=objective)
    projection = metrics.projection()
    projection.load()
    run_in_background(metrics.consumer(projection).run)
    wait_for(lambda: processed_count(metrics) >= len(events) - 1, 30, "the live read model")
    live = read_model(metrics.engine)

    fresh = dataclasses.replace(metrics_config, database_url=f"sqlite:///{tmp_path}/fresh.db")
    upgrade_to_head(MIGRATIONS, fresh.database_url)
    rebuilt = bootstrap(fresh)
    counts = rebuild(rebuilt, lambda line: None, batch_size=4, chunk_events=100)
    assert counts == {"applied": len(events) - 1, "duplicate": 0, "skipped": 1}
    assert read_model(rebuilt.engine) == live
    assert processed_count(rebuilt) == len(events) - 1
    rebuilt.engine.dispose()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("metrics_database_url", ["postgresql", "sqlite"], indirect=True)
def test_a_rebuild_killed_midway_and_run_again_ends_identical(
        metrics: Metrics, metrics_config: MetricsConfig, goals_topic: GoalsTopic,
        run_in_background: Any, processes: Any) -> None:
    """``kill -9`` of ``okr-metrics rebuild`` (a real process) after some chunks have
    committed leaves a partial read model, on which a consumer does not start (before, it
    took the lease the killed rebuild's session let go, and went on from the partial read
    model for good); the rebuild run again starts from nothing and ends with the live
    consumer's read model, each event recorded once, and the waiting consumer starts."""
    target = ge.new_id()
    events = [ge.cycle(), ge.objective(target, ["marketing", "sales"])]
    for number in range(6):
        objective, kr = ge.new_id(), ge.new_id()
        events += [ge.objective(objective, ["sales" if number % 2 else "marketing"]),
                   ge.key_result(kr, objective),
                   ge.contribution(ge.new_id(), "objective", objective, "objective", target),
                   *[ge.check_in(kr, objective, v, float(v % 101), confidence=0.5)
                     for v in range(2, 400)]]
    goals_topic.send(*events, key=target)
    projection = metrics.projection()
    projection.load()
    stop = run_in_background(metrics.consumer(projection).run)
    wait_for(lambda: processed_count(metrics) == len(events), 60, "the live read model")
    stop.set()
    live = read_model(metrics.engine)

    # chunks of 20 events: the first has committed long before the last (of 121)
    command = [okr_metrics(), "rebuild", "--chunk-events", "20"]
    environment = metrics_environment(metrics_config)
    first = processes(command, environment, "rebuild")
    wait_for(lambda: "replayed" in first.output() or not first.alive(), 60,
             "the rebuild's first chunk")
    assert first.alive(), first.output()
    first.kill9()
    partial = read_model(metrics.engine)
    assert 0 < (at_kill := processed_count(metrics)) < len(events)
    assert partial != live

    consumer = processes([okr_metrics(), "consume"], {
        **environment, "OKR_METRICS_WORKER_METRICS_PORT": "0",
        "OKR_METRICS_STATUS_TICK_SECONDS": "0"}, "consumer")
    wait_for(lambda: "the read model is partial" in consumer.output() or not consumer.alive(),
             60, "the consumer to wait for a rebuild")
    assert consumer.alive(), consumer.output()
    assert "graph loaded" not in consumer.output()
    assert processed_count(metrics) == at_kill and read_model(metrics.engine) == partial

    again = processes(command, environment, "rebuild again")  # beside the waiting consumer
    wait_for(lambda: not again.alive(), 150, "the rebuild run again")
    assert f"rebuilt: {len(events)} applied, 0 duplicates, 0 skipped" in again.output()
    wait_for(lambda: "graph loaded" in consumer.output() or not consumer.alive(), 60,
             "the consumer to start on the whole read model")
    assert consumer.alive(), consumer.output()
    assert consumer.terminate() == 0, consumer.output()
    assert read_model(metrics.engine) == live
    assert processed_count(metrics) == len(events)


def test_an_event_refused_before_the_graph_is_touched_reloads_nothing(
        metrics: Metrics) -> None:
    """A poison event is refused before the graph is touched, so the graph is not loaded
    again from the database (seconds at a million key results, for each half of a
    gathered batch that holds it); a batch that failed after touching it still is."""
    objective, kr = ge.new_id(), ge.new_id()
    projection = metrics.projection()
    projection.load()
    with metrics.unit_of_work() as uow:
        projection.apply_in(uow, [ge.cycle(), ge.objective(objective, ["sales"]),
                                  ge.key_result(kr, objective),
                                  ge.check_in(kr, objective, 2, 10.0)])
        uow.commit()
    graph = projection.graph
    with pytest.raises(UnprocessableEvent), metrics.unit_of_work() as uow:
        projection.apply_in(uow, [ge.check_in(kr, objective, 40, 99.0)])  # 40 after 2
    projection.rolled_back()
    assert projection.graph is graph  # not reloaded

    with metrics.unit_of_work() as uow:  # touched, then not committed: reloaded
        projection.apply_in(uow, [ge.check_in(kr, objective, 3, 20.0)])
    projection.rolled_back()
    assert projection.graph is not graph
    assert projection.graph.key_result(kr).version == 2  # as committed, not 3
