"""The relay publishes in order, and notices when the broker lost what it had published."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import func, select

from services.goals.adapters import tables
from services.goals.bootstrap import Goals
from services.goals.service_layer import reference_data
from shared.config import KafkaSettings
from shared.contract import Topic
from shared.messaging.kafka_clients import ensure_topics, new_producer
from tests.support.kafka import event_documents, read_topic
from tools.embedded_broker import EmbeddedBroker


def _create_cycles(goals: Goals, count: int, prefix: str = "c") -> list[str]:
    keys = [f"{prefix}-{i:04d}" for i in range(count)]
    for key in keys:
        reference_data.create_cycle(goals.unit_of_work(), reference_data.SYSTEM, key,
                                    date(2026, 10, 1), date(2026, 12, 31))
    return keys


def _unpublished(goals: Goals) -> int:
    outbox = tables.plumbing.outbox
    with goals.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(outbox)
                                  .where(outbox.c.published_at.is_(None))).scalar_one()


def test_relay_publishes_every_row_once_in_commit_order(
    goals: Goals, kafka_settings: KafkaSettings
) -> None:
    keys = _create_cycles(goals, 30)
    relay = goals.relay()
    relay.recover_lost_topics()
    assert relay.publish_batch() == 30
    assert relay.publish_batch() == 0
    assert _unpublished(goals) == 0
    documents = event_documents(read_topic(kafka_settings, Topic.GOALS, expect=30))
    assert sorted(d["subject"] for d in documents) == [f"cycle/{k}" for k in keys]


def test_relay_republishes_retained_rows_after_the_broker_lost_its_topics(
    goals: Goals, kafka_settings: KafkaSettings, broker: EmbeddedBroker
) -> None:
    _create_cycles(goals, 5)
    relay = goals.relay()
    relay.recover_lost_topics()
    relay.publish_batch()
    broker.restart()  # Tansu keeps nothing: every topic is gone

    assert relay.recover_lost_topics() == {Topic.GOALS.value}
    assert _unpublished(goals) == 5
    relay.publish_batch()
    assert len(read_topic(kafka_settings, Topic.GOALS, expect=5)) == 5


def test_relay_notices_a_recreated_topic_that_holds_other_records(
    goals: Goals, kafka_settings: KafkaSettings, broker: EmbeddedBroker
) -> None:
    _create_cycles(goals, 3)
    relay = goals.relay()
    relay.recover_lost_topics()
    relay.publish_batch()
    broker.restart()
    ensure_topics(kafka_settings, "someone-else")
    producer = new_producer(kafka_settings, "someone-else")
    for i in range(50):  # another writer fills the new log past the old offsets
        for partition in range(kafka_settings.topic_partitions):
            producer.send(Topic.GOALS.value, value=json.dumps({"id": f"x{i}"}).encode(),
                          partition=partition)
    producer.flush()
    producer.close()

    assert relay.recover_lost_topics() == {Topic.GOALS.value}


def test_relay_keeps_a_topic_that_still_holds_its_records(
    goals: Goals, kafka_settings: KafkaSettings
) -> None:
    _create_cycles(goals, 3)
    relay = goals.relay()
    relay.recover_lost_topics()
    relay.publish_batch()
    assert relay.recover_lost_topics() == set()
    assert _unpublished(goals) == 0
