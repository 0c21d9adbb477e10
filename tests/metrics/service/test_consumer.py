"""The metrics consumer applies goal events from Kafka into the read model (real Tansu)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kafka import TopicPartition
from sqlalchemy import select

from services.metrics.adapters import tables
from services.metrics.bootstrap import Metrics
from shared.config import KafkaSettings
from shared.contract import EventType, Topic
from shared.contract.schemas import validate_event_data
from shared.messaging.kafka_clients import new_consumer
from tests.metrics import goal_events as ge
from tests.metrics.conftest import objective_row, processed_count, wait_for
from tests.metrics.goal_events import GoalsTopic

pytestmark = pytest.mark.timeout(90)


def _dead_letters(kafka: KafkaSettings) -> list[bytes]:
    consumer = new_consumer(kafka, "dlq-reader", group_id=None, consumer_timeout_ms=3000)
    partitions = [TopicPartition(Topic.GOALS.dead_letter, p)
                  for p in range(kafka.topic_partitions)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    values = [message.value for message in consumer]
    consumer.close()
    return values


@pytest.mark.handled_errors("dead_lettered", "consumer_batch_fallback")
def test_consumer_applies_goal_events_ignores_duplicates_and_older_versions_and_dead_letters(
        metrics: Metrics, goals_topic: GoalsTopic, kafka_settings: KafkaSettings,
        run_in_background: Any) -> None:
    target, own, kr = ge.new_id(), ge.new_id(), ge.new_id()
    checked = ge.check_in(kr, own, version=2, value=50.0, confidence=0.8)
    goals_topic.send(
        ge.cycle(), ge.objective(target, ["marketing", "sales"], title="Grow revenue"),
        ge.objective(own, ["sales"]), ge.key_result(kr, own),
        ge.contribution(ge.new_id(), "objective", own, "objective", target),
        checked, checked,  # a duplicate delivery
        ge.key_result(kr, own, version=1, current=99.0),  # older version, late
    )
    projection = metrics.projection()
    projection.load()
    run_in_background(metrics.consumer(projection).run)
    wait_for(lambda: processed_count(metrics) == 7, 30, "7 distinct events applied")

    row = objective_row(metrics, target)
    assert (row.progress, row.kind, row.departments) == (0.5, "collective", "marketing+sales")
    assert objective_row(metrics, own).progress == 0.5
    with metrics.engine.connect() as connection:
        key_result = connection.execute(select(tables.key_results)).one()
        counters = dict(connection.execute(select(tables.checkin_counters.c.department,
                                                  tables.checkin_counters.c.count)).all())
    assert (key_result.version, key_result.value, key_result.confidence) == (2, 50.0, 0.8)
    assert counters == {"sales": 1}  # the duplicate was not counted again

    # A malformed event goes to the dead-letter topic; the consumer keeps going.
    broken = ge.check_in(kr, own, version=3, value=70.0)
    broken.data["key_result"].pop("measure")
    goals_topic.send(broken, ge.check_in(kr, own, version=4, value=80.0),
                     raw=b"not a cloud event")
    wait_for(lambda: processed_count(metrics) == 8, 30, "the good event after the bad ones")
    assert objective_row(metrics, target).progress == 0.8
    wait_for(lambda: len(_dead_letters(kafka_settings)) == 2, 20, "two dead letters")


def test_rollup_events_are_written_to_the_outbox_once_per_objective_per_batch_and_valid(
        metrics: Metrics, goals_topic: GoalsTopic, run_in_background: Any) -> None:
    objective, kr = ge.new_id(), ge.new_id()
    goals_topic.send(ge.cycle(), ge.objective(objective, ["sales"]), ge.key_result(kr, objective),
                     *[ge.check_in(kr, objective, version=v, value=10.0 * v, confidence=0.9)
                       for v in range(2, 6)])
    projection = metrics.projection()
    projection.load()
    run_in_background(metrics.consumer(projection).run)
    wait_for(lambda: processed_count(metrics) == 7, 30, "7 events applied")
    outbox = tables.plumbing.outbox
    with metrics.engine.connect() as connection:
        rows = connection.execute(select(outbox).order_by(outbox.c.position)).all()
    assert rows, "no roll-up events"
    changed = [json.loads(r.payload) for r in rows if r.event_type == EventType.ROLLUP_CHANGED]
    status = [json.loads(r.payload) for r in rows
              if r.event_type == EventType.OBJECTIVE_STATUS_CHANGED]
    for document in changed + status:
        validate_event_data(document["type"], document["data"])
        assert document["source"] == "/okr/metrics"
    assert {r.topic for r in rows} == {Topic.ROLLUPS.value}
    assert {r.message_key for r in rows} == {objective}
    assert changed[-1]["data"]["progress"] == 0.5
    # at most one per objective per batch: never more than the batches that moved it
    assert len(changed) <= 5
    assert status[0]["data"]["previous_status"] is None
