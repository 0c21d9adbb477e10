"""A poison message goes to the dead-letter topic with its reason; the next one is applied."""

from __future__ import annotations

import json

import pytest
from kafka import TopicPartition
from sqlalchemy import Engine, select

from shared.cloudevents import new_event
from shared.config import KafkaSettings
from shared.contract import EventType, Topic
from shared.messaging.kafka_clients import ensure_topics, new_consumer, new_producer
from tests.platform.faults.conftest import wait_until
from tests.support.kafka import read_topic
from tests.support.ledger_consumer import build_runner, ledger, ledger_counts

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

KEY = b"poison-key"  # one key, so one partition: the good event comes after the bad ones


@pytest.mark.handled_errors("dead_lettered")
def test_poison_messages_are_dead_lettered_and_the_next_event_is_applied(
    kafka_settings: KafkaSettings, ledger_engine: Engine, run_in_background,
) -> None:
    ensure_topics(kafka_settings, "poison-test-admin")
    not_json = b"not json"
    not_a_cloudevent = json.dumps({"id": "no-other-attributes", "data": {}}).encode()
    good = new_event(EventType.CYCLE_CREATED, "/okr/goals", "cycle/after-poison",
                     {"key": "after-poison", "version": 1})
    producer = new_producer(kafka_settings, "poison-test")
    try:
        sent = [producer.send(Topic.GOALS.value, key=KEY, value=value).get(timeout=10)
                for value in (not_json, not_a_cloudevent, good.to_json())]
    finally:
        producer.close(timeout=5)
    assert len({metadata.partition for metadata in sent}) == 1
    assert [m.offset for m in sent] == sorted(m.offset for m in sent)

    run_in_background(build_runner(ledger_engine, kafka_settings, "ledger-poison").run)

    wait_until(lambda: ledger_counts(ledger_engine)[0] >= 1, 60,
               "the good event after the poison messages to be applied")
    with ledger_engine.connect() as connection:
        rows = connection.execute(select(ledger.c.event_id, ledger.c.subject)).all()
    assert [(row.event_id, row.subject) for row in rows] == [(good.id, "cycle/after-poison")]

    dead = read_topic(kafka_settings, Topic.GOALS.dead_letter, expect=2, timeout=30)
    assert [record.value for record in dead] == [not_json, not_a_cloudevent]
    reasons = [dict(record.headers)["okr-dlq-reason"].decode() for record in dead]
    assert reasons[0].startswith("invalid event: value is not JSON"), reasons[0]
    assert reasons[1].startswith("invalid event: missing attributes:"), reasons[1]
    assert "specversion" in reasons[1]
    for record, original in zip(dead, sent[:2], strict=True):
        headers = dict(record.headers)
        assert record.key == KEY
        assert headers["okr-dlq-source-topic"] == Topic.GOALS.value.encode()
        assert headers["okr-dlq-source-offset"] == str(original.offset).encode()
        assert headers["okr-dlq-consumer"] == b"ledger-poison"
    # The group committed past all three: the poison messages are finished, not retried.
    partition = TopicPartition(Topic.GOALS.value, sent[0].partition)
    checker = new_consumer(kafka_settings, "poison-test-offsets", group_id="ledger-poison")
    try:
        wait_until(lambda: (checker.committed(partition) or 0) >= sent[2].offset + 1, 30,
                   "the consumer to commit past the poison messages")
    finally:
        checker.close(autocommit=False)
