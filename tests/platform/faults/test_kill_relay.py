"""``kill -9`` of the relay process in the middle of a backlog: nothing is missing on the topic."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, select

from services.goals.bootstrap import Goals
from shared.config import KafkaSettings
from shared.contract import EventType, Topic
from tests.platform.faults.conftest import (
    fill_outbox,
    kafka_environment,
    okr_goals,
    outbox_counts,
    wait_until,
)
from tests.support.kafka import read_topic
from tests.support.ledger_consumer import build_runner, ledger, ledger_counts

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

BACKLOG = 3_000


def _relay_environment(database_url: str, kafka: KafkaSettings) -> dict[str, str]:
    return {
        **kafka_environment(kafka),
        "OKR_GOALS_DATABASE_URL": database_url,
        "OKR_GOALS_WORKER_METRICS_PORT": "0",  # no metrics server
        "OKR_RELAY_BATCH_SIZE": "100",  # many small marks, so a kill lands between two
        "OKR_RELAY_POLL_SECONDS": "0.5",
        "OKR_LOG_JSON": "false",
    }


# A batch slower than max_poll_interval_ms (2 s here, for Tansu's joins) on a loaded
# machine gets the consumer evicted: its commit fails, and the batch comes back as
# duplicates, which the processed-event records drop.
@pytest.mark.handled_errors("consumer_commit_failed")
def test_relay_killed_mid_backlog_loses_nothing_and_effects_stay_exactly_once(
    goals: Goals, goals_database_url: str, kafka_settings: KafkaSettings, ledger_engine: Engine,
    children, run_in_background,
) -> None:
    expected_ids = fill_outbox(goals, BACKLOG)
    environment = _relay_environment(goals_database_url, kafka_settings)
    # The consumer reads along while the relays publish, killed or not.
    run_in_background(build_runner(ledger_engine, kafka_settings, "ledger-relay-kill",
                                   max_records=50).run)

    first = children([okr_goals(), "relay"], environment, "relay")
    wait_until(lambda: outbox_counts(goals)[0] >= 300 or not first.alive(), 60,
               "the relay to publish part of the backlog")
    assert first.alive(), first.output()
    first.kill9()
    published_at_kill, pending_at_kill = outbox_counts(goals)
    assert 0 < published_at_kill < BACKLOG, (published_at_kill, pending_at_kill)
    assert pending_at_kill > 0

    # A second relay takes the lease the dead one could not release, and finishes the job.
    second = children([okr_goals(), "relay"], environment, "relay")
    wait_until(lambda: outbox_counts(goals)[1] == 0 or not second.alive(), 60,
               "the restarted relay to drain the outbox")
    assert second.alive(), second.output()
    assert second.terminate() == 0, second.output()

    # Every event reached the topic; some may be there twice (sent, then killed before
    # the mark), none is missing.
    records = read_topic(kafka_settings, Topic.GOALS, expect=BACKLOG, timeout=30)
    on_topic = [dict(record.headers)["ce_id"].decode() for record in records]
    assert expected_ids <= set(on_topic), f"{len(expected_ids - set(on_topic))} events missing"
    assert len(on_topic) >= BACKLOG

    # The consumer applied each of them exactly once, duplicates on the topic or not.
    wait_until(lambda: ledger_counts(ledger_engine)[0] >= BACKLOG, 90,
               f"the ledger to hold {BACKLOG} events")
    time.sleep(1.5)  # an extra application, if any, would land now
    assert ledger_counts(ledger_engine, EventType.CYCLE_CREATED.value) == (BACKLOG, BACKLOG)
    with ledger_engine.connect() as connection:
        applied = set(connection.execute(select(ledger.c.event_id)).scalars())
    assert applied == expected_ids
