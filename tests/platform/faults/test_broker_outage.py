"""The broker goes away during 1,000 writes and comes back empty: nothing is lost or doubled."""

from __future__ import annotations

import time
from datetime import date

import pytest
from sqlalchemy import Engine

from services.goals.bootstrap import Goals
from services.goals.domain.access import Principal, Role
from services.goals.service_layer import reference_data
from shared.config import KafkaSettings
from shared.contract import EventType, Topic
from shared.observability.metrics import HANDLED_ERRORS, OUTBOX_REPUBLISHED
from tests.platform.faults.conftest import (
    assert_each_cycle_applied_once,
    outbox_counts,
    wait_until,
)
from tests.support.kafka import read_topic
from tests.support.ledger_consumer import build_runner, ledger_counts
from tools.embedded_broker import EmbeddedBroker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ADMIN = Principal(name="fault test admin", role=Role.ADMIN)
WRITES = 1_000


def _create_cycles(goals: Goals, keys: list[str]) -> None:
    for key in keys:
        cycle = reference_data.create_cycle(goals.unit_of_work(), ADMIN, key,
                                            date(2026, 10, 1), date(2026, 12, 31))
        assert cycle.key == key and cycle.version == 1


def _cycle_rows(engine: Engine) -> int:
    return ledger_counts(engine, EventType.CYCLE_CREATED.value)[0]


def _sample(name: str, labels: dict[str, str]) -> float:
    for metric in (HANDLED_ERRORS, OUTBOX_REPUBLISHED):
        for family in metric.collect():
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
    return 0.0


def _republished() -> float:
    return _sample("okr_outbox_republished_total", {"service": "goals", "topic": Topic.GOALS.value})


def _relay_failures() -> float:
    return _sample("okr_handled_errors_total",
                   {"service": "goals", "kind": "relay_broker_unavailable"})


@pytest.mark.handled_errors("relay_broker_unavailable", "relay_producer_close",
                            "consumer_commit_failed", "consumer_broker_unavailable")
def test_writes_succeed_during_a_broker_outage_and_every_event_is_applied_once(
    goals: Goals, broker: EmbeddedBroker, kafka_settings: KafkaSettings, ledger_engine: Engine,
    run_in_background,
) -> None:
    run_in_background(goals.relay().run)
    run_in_background(build_runner(ledger_engine, kafka_settings, "ledger-outage",
                                   max_records=50).run)
    keys = [f"c-{i:04d}" for i in range(1, WRITES + 1)]
    republished_before, failures_before = _republished(), _relay_failures()

    # Up: the first writes flow through, and the consumer has applied (and committed) some.
    _create_cycles(goals, keys[:250])
    wait_until(lambda: _cycle_rows(ledger_engine) >= 50, 60, "the consumer to apply events")

    # Down: every write still succeeds; the events wait in the outbox.
    broker.stop()
    started = time.monotonic()
    _create_cycles(goals, keys[250:750])
    assert time.monotonic() - started < 60, "writes were held up by the broker outage"
    published, pending = outbox_counts(goals)
    assert pending >= 500, (published, pending)
    # Keep it down until the relay has run into the outage (and is backing off).
    wait_until(lambda: _relay_failures() > failures_before, 30,
               "the relay to notice that the broker is down")
    assert outbox_counts(goals)[1] >= 500

    # Back, as a fresh broker that lost every topic, message and committed offset.
    broker.start()
    _create_cycles(goals, keys[750:])

    wait_until(lambda: outbox_counts(goals)[1] == 0, 90, "the relay to drain the outbox")
    wait_until(lambda: _cycle_rows(ledger_engine) >= WRITES, 90,
               f"the ledger to hold {WRITES} cycle events")
    time.sleep(2.0)  # a duplicate application, if any, would land now

    expected_ids = assert_each_cycle_applied_once(goals, ledger_engine, keys, WRITES)

    # The relay noticed the lost topic and published the retained rows again: the new
    # broker holds every event, including those the old one had before it went away.
    assert _republished() > republished_before
    records = read_topic(kafka_settings, Topic.GOALS, expect=WRITES, timeout=30)
    on_topic = {dict(record.headers)["ce_id"].decode() for record in records}
    assert expected_ids <= on_topic
