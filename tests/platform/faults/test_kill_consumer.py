"""``kill -9`` of a consumer process in the middle of a batch: its effects stay exactly once."""

from __future__ import annotations

import time

import pytest
from kafka import TopicPartition
from sqlalchemy import Engine, func, select

from services.goals.bootstrap import Goals
from shared.config import KafkaSettings
from shared.contract import EventType, Topic
from shared.messaging.kafka_clients import new_consumer
from tests.platform.faults.conftest import (
    fill_outbox,
    kafka_environment,
    ledger_consumer_command,
    outbox_counts,
    wait_until,
)
from tests.support.ledger_consumer import ledger, ledger_counts, plumbing

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

EVENTS = 2_000
GROUP = "ledger-consumer-kill"
KILLS = 4  # at most, each 300 events further on


def _committed_total(kafka: KafkaSettings) -> int:
    """Messages the group has committed, over all partitions (offset fetch, no join)."""
    checker = new_consumer(kafka, "kill-test-offsets", group_id=GROUP)
    try:
        partitions = [TopicPartition(Topic.GOALS.value, p)
                      for p in range(kafka.topic_partitions)]
        return sum(checker.committed(tp) or 0 for tp in partitions)
    finally:
        checker.close(autocommit=False)


def test_consumer_killed_mid_batch_applies_every_event_exactly_once(
    goals: Goals, kafka_settings: KafkaSettings, ledger_database_url: str,
    ledger_engine: Engine, children, run_in_background,
) -> None:
    expected_ids = fill_outbox(goals, EVENTS)
    run_in_background(goals.relay().run)
    wait_until(lambda: outbox_counts(goals)[1] == 0, 60, "the relay to publish the backlog")

    command = ledger_consumer_command(ledger_database_url, kafka_settings, GROUP)
    # The restarted member waits for the killed one's session to expire: keep it short.
    environment = {**kafka_environment(kafka_settings), "OKR_KAFKA_SESSION_TIMEOUT_MS": "3000"}
    # Killed mid-batch: it had applied events whose offsets it never committed. A kill
    # that lands between two batches (a loaded machine: the next batch not yet fetched)
    # proves less, so the consumer is started and killed again, further on, until one does.
    committed_at_kill = applied_at_kill = 0
    for _ in range(KILLS):
        first = children(command, environment, "consumer")
        target = applied_at_kill + 300
        wait_until(lambda target=target, first=first: (  # type: ignore[misc]
            ledger_counts(ledger_engine)[0] >= target or not first.alive()),
            60, "the consumer to apply part of the events")
        assert first.alive(), first.output()
        first.kill9()
        applied_at_kill = ledger_counts(ledger_engine)[0]
        assert 0 < applied_at_kill < EVENTS, applied_at_kill
        committed_at_kill = _committed_total(kafka_settings)
        if committed_at_kill < applied_at_kill:
            break
    assert committed_at_kill < applied_at_kill, (committed_at_kill, applied_at_kill)

    # The restarted consumer resumes from the last committed offset: it sees again what
    # the dead one applied after its last commit, and must not apply it twice.
    second = children(command, environment, "consumer")
    try:
        wait_until(lambda: ledger_counts(ledger_engine)[0] >= EVENTS or not second.alive(), 90,
                   f"the ledger to hold {EVENTS} events")
    except AssertionError as error:  # what the restarted consumer was doing
        raise AssertionError(f"{error} (it holds {ledger_counts(ledger_engine)[0]}; "
                             f"committed {_committed_total(kafka_settings)})\n"
                             f"{second.output()[-6000:]}") from None
    assert second.alive(), second.output()
    time.sleep(1.5)  # an extra application, if any, would land now
    assert second.terminate() == 0, second.output()

    assert ledger_counts(ledger_engine, EventType.CYCLE_CREATED.value) == (EVENTS, EVENTS)
    with ledger_engine.connect() as connection:
        applied = set(connection.execute(select(ledger.c.event_id)).scalars())
        recorded = connection.execute(
            select(func.count()).select_from(plumbing.processed_events)
            .where(plumbing.processed_events.c.consumer == GROUP)).scalar_one()
    assert applied == expected_ids
    assert recorded == EVENTS
