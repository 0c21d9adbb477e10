"""Benchmark 1: outbox relay throughput against a plain producer sending the same events.

Each round fills the outbox with N events (not timed), then times the relay from its start
until the backlog is zero; the baseline is a plain kafka-python producer (the platform's
own ``new_producer`` settings: ``acks=all``, idempotent) sending the same N payloads, keys
and headers to the same topic of the same broker, and flushing. The two sides alternate
which goes first, round by round, so that noise falls on both; the report gives medians.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from sqlalchemy import Engine, delete, select

from bench.common import (
    TOPIC,
    BenchEvent,
    BenchResult,
    Check,
    count_records,
    fmt,
    goals_database,
    log,
    make_events,
    median,
    open_engine,
    pending_count,
    ratio,
    relay_settings,
    running_broker,
)
from services.goals.adapters import tables
from services.goals.config import SERVICE
from shared.config import KafkaSettings, RelaySettings
from shared.messaging.kafka_clients import new_producer
from shared.messaging.relay import OutboxRelay
from shared.persistence.engine import writing
from shared.persistence.outbox import Outbox

TARGET_RATIO = 0.7
FILL_TRANSACTION_SIZE = 2_000
POLL_SECONDS = 0.005


@dataclass(frozen=True)
class ThroughputOptions:
    events: int = 20_000
    rounds: int = 3
    relay_batch_size: int = 2000
    #: Overrides for the producers of both sides (e.g. ``{"linger_ms": 5}``); empty = the
    #: platform's settings as they are.
    producer_overrides: tuple[tuple[str, Any], ...] = ()
    timeout_seconds: float = 300.0


def fill_outbox(engine: Engine, events: Sequence[BenchEvent]) -> None:
    """Append ``events`` through :class:`Outbox` in large transactions (not timed)."""
    outbox = Outbox(tables.plumbing.outbox)
    for start in range(0, len(events), FILL_TRANSACTION_SIZE):
        with writing(engine).begin() as connection:
            for item in events[start:start + FILL_TRANSACTION_SIZE]:
                outbox.append(connection, item.event, item.key)


def empty_outbox(engine: Engine) -> None:
    with writing(engine).begin() as connection:
        connection.execute(delete(tables.plumbing.outbox))


def _last_row_published(engine: Engine, position: int) -> bool:
    outbox = tables.plumbing.outbox
    with engine.connect() as connection:
        published_at = connection.execute(
            select(outbox.c.published_at).where(outbox.c.position == position)).scalar_one()
    return published_at is not None


def time_relay(engine: Engine, kafka: KafkaSettings, settings: RelaySettings,
               timeout: float, producer_overrides: dict[str, Any] | None = None) -> float:
    """Seconds from the relay's start until the outbox backlog is zero.

    The relay publishes in position order and marks a row only after the broker
    acknowledged it, so the backlog is zero exactly when the newest row is marked.
    """
    outbox = tables.plumbing.outbox
    with engine.connect() as connection:
        last = connection.execute(select(outbox.c.position).order_by(outbox.c.position.desc())
                                  .limit(1)).scalar_one()
    relay = OutboxRelay(service=SERVICE, engine=engine, outbox_table=outbox, kafka=kafka,
                        settings=settings)
    if producer_overrides:
        relay._get_producer = _producer_factory(relay, kafka, producer_overrides)  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), name="bench-relay", daemon=True)
    started = time.perf_counter()
    thread.start()
    deadline = started + timeout
    try:
        while not _last_row_published(engine, last):
            if time.perf_counter() > deadline:
                raise TimeoutError(f"relay did not drain the outbox within {timeout:.0f} s")
            time.sleep(POLL_SECONDS)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        thread.join(timeout=30)
    remaining = pending_count(engine)
    if remaining:
        raise AssertionError(f"relay finished with {remaining} rows still pending")
    return elapsed


def _producer_factory(relay: OutboxRelay, kafka: KafkaSettings,
                      overrides: dict[str, Any]) -> Any:
    def get_producer() -> KafkaProducer:
        if relay._producer is None:
            relay._producer = new_producer(kafka, client_id=f"{SERVICE}-relay", **overrides)
        return relay._producer
    return get_producer


def time_plain_producer(kafka: KafkaSettings, events: Sequence[BenchEvent],
                        producer_overrides: dict[str, Any] | None = None) -> float:
    """Seconds for a plain producer to send ``events`` and have every one acknowledged."""
    started = time.perf_counter()
    producer = new_producer(kafka, client_id="bench-plain-producer",
                            **(producer_overrides or {}))
    try:
        futures = [producer.send(TOPIC, key=item.key.encode(), value=item.value,
                                 headers=item.headers) for item in events]
        producer.flush(timeout=120)
        elapsed = time.perf_counter() - started
    finally:
        producer.close(timeout=5)
    failed = sum(1 for future in futures if not future.is_done or future.failed())
    if failed:
        raise AssertionError(f"plain producer: {failed} sends not acknowledged")
    return elapsed


def run_throughput(database: str, options: ThroughputOptions) -> BenchResult:
    events = make_events(options.events, "thr")
    overrides = dict(options.producer_overrides)
    settings = relay_settings(options.relay_batch_size)
    relay_rates: list[float] = []
    plain_rates: list[float] = []
    log(f"throughput[{database}]: {options.events:,} events x {options.rounds} rounds, "
        f"relay batch {options.relay_batch_size}, producer overrides {overrides or 'none'}")
    with running_broker() as kafka, goals_database(database, "throughput") as url:
        engine = open_engine(url)
        try:
            for round_no in range(1, options.rounds + 1):
                empty_outbox(engine)
                fill_started = time.perf_counter()
                fill_outbox(engine, events)
                log(f"  round {round_no}: outbox filled with {options.events:,} events in "
                    f"{time.perf_counter() - fill_started:.1f} s")
                order = ["relay", "plain"] if round_no % 2 else ["plain", "relay"]
                for side in order:
                    if side == "relay":
                        seconds = time_relay(engine, kafka, settings, options.timeout_seconds,
                                             overrides)
                        relay_rates.append(options.events / seconds)
                    else:
                        seconds = time_plain_producer(kafka, events, overrides)
                        plain_rates.append(options.events / seconds)
                    log(f"  round {round_no}: {side:5s} {options.events / seconds:8,.0f} "
                        f"events/s ({seconds:.2f} s)")
            expected = options.events * options.rounds * 2
            log(f"  reading back the topic ({expected:,} records expected)")
            on_topic = count_records(kafka, expected)
        finally:
            engine.dispose()
    ratios = [ratio(r, p) for r, p in zip(relay_rates, plain_rates, strict=True)]
    relay_median, plain_median = median(relay_rates), median(plain_rates)
    median_ratio = median(ratios)
    rows = [
        [f"round {i + 1}", fmt(r, 0), fmt(p, 0), fmt(q, 3)]
        for i, (r, p, q) in enumerate(zip(relay_rates, plain_rates, ratios, strict=True))
    ]
    rows.append(["median", fmt(relay_median, 0), fmt(plain_median, 0), fmt(median_ratio, 3)])
    return BenchResult(
        name="relay throughput",
        database=database,
        headers=["", "relay events/s", "plain producer events/s", "ratio relay/plain"],
        rows=rows,
        checks=[Check("median ratio relay/plain", median_ratio, f">= {TARGET_RATIO}",
                      median_ratio >= TARGET_RATIO),
                Check("records on the topic / records sent", ratio(on_topic, expected), "= 1",
                      on_topic == expected)],
        details={
            "events": options.events, "rounds": options.rounds,
            "relay_batch_size": options.relay_batch_size, "producer_overrides": overrides,
            "relay_events_per_second": relay_rates, "plain_events_per_second": plain_rates,
            "ratios": ratios, "median_ratio": median_ratio,
            "records_expected": expected, "records_on_topic": on_topic,
            "payload_bytes": len(events[0].value) if events else 0,
        },
    )
