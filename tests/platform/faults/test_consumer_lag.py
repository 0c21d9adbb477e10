"""Consumer lag comes from the fetch high watermark and falls to zero once all is applied."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from services.goals.bootstrap import Goals
from shared.config import KafkaSettings
from shared.observability.metrics import CONSUMER_LAG
from tests.platform.faults.conftest import fill_outbox
from tests.support.ledger_consumer import SERVICE, build_runner, ledger_counts


def _lag() -> dict[str, float]:
    return {sample.labels["partition"]: sample.value
            for metric in CONSUMER_LAG.collect() for sample in metric.samples
            if sample.labels["service"] == SERVICE}


def test_lag_is_reported_while_behind_and_is_zero_when_caught_up(
    goals: Goals, kafka_settings: KafkaSettings, ledger_engine: Engine
) -> None:
    fill_outbox(goals, 300)
    relay = goals.relay()
    relay.recover_lost_topics()
    while relay.publish_batch():
        pass
    runner = build_runner(ledger_engine, kafka_settings, "lag-test", max_records=20)
    stop = threading.Event()
    observed_behind = 0.0
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while ledger_counts(ledger_engine)[0] < 300:
            assert time.monotonic() < deadline, "the consumer did not catch up in 60 s"
            observed_behind = max(observed_behind, sum(_lag().values()))
            time.sleep(0.02)
        deadline = time.monotonic() + 10
        while sum(_lag().values()) > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        caught_up = _lag()
    finally:
        stop.set()
        thread.join(30)
    assert observed_behind > 0
    assert caught_up and sum(caught_up.values()) == 0
