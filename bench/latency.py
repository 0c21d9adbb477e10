"""Benchmark 2: latency from commit to a consumer receiving the event, at a fixed rate.

Relay side: the bench process commits one event per transaction at ``rate``/s for
``duration`` s through the goals unit of work (``create_cycle``, which writes the cycle,
the outbox row and the audit entry in one transaction) and records the time each commit
returned; the relay runs in a process of its own, as ``okr-goals relay`` does (on
PostgreSQL it is woken by LISTEN/NOTIFY); a plain consumer in a third process (assigned
partitions, no group) records when each event arrived.

Baseline, in the same run: a plain producer in the bench process sends the same kind of
event at the same rate straight to the topic (no database), timed from ``send()``; the
same consumer process receives it. The two sides alternate, round by round.

All times are ``time.monotonic()``, which on Linux is one clock for every process.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

from bench.common import (
    TOPIC,
    BenchResult,
    Check,
    cycle_event,
    fmt,
    goals_database,
    log,
    percentile,
    ratio,
    relay_settings,
    running_broker,
    tail_consumer,
)
from services.goals.adapters import tables
from services.goals.bootstrap import bootstrap
from services.goals.config import SERVICE, GoalsConfig
from services.goals.domain.access import Principal, Role
from services.goals.service_layer import reference_data
from shared.config import KafkaSettings, RelaySettings
from shared.messaging.kafka_clients import new_producer
from shared.messaging.relay import OutboxRelay
from shared.persistence.engine import create_database_engine, writing
from shared.persistence.outbox import Outbox

TARGET_P99_MS = 250.0
BENCH_ADMIN = Principal(name="bench", role=Role.ADMIN)
DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class LatencyOptions:
    rate: float = 200.0
    duration: float = 20.0
    rounds: int = 2
    #: "uow": create_cycle through the goals unit of work; "outbox": Outbox.append only.
    writer: str = "uow"
    #: Tansu answers a fetch only when fetch_max_wait_ms has passed, even when records are
    #: waiting (Apache Kafka answers at once); kafka-python's default of 500 ms would add
    #: ~250 ms on average to every delivery, on both sides.
    fetch_max_wait_ms: int = 20
    relay_batch_size: int = 500
    #: Threads committing on the relay side: one commit takes 5-15 ms here, so a single
    #: thread could not keep 200/s; an API serves several requests at once too.
    writers: int = 8


@dataclass
class Phase:
    """One timed stretch of one side: send (or commit) times and receive times by key."""

    side: str
    sent: dict[str, float]
    received: dict[str, float]
    behind_ms: float  # how far the writer fell behind its schedule, at worst

    def latencies_ms(self) -> list[float]:
        return [(self.received[key] - at) * 1000 for key, at in self.sent.items()
                if key in self.received]

    @property
    def missing(self) -> int:
        return sum(1 for key in self.sent if key not in self.received)


# -- the processes -------------------------------------------------------------------------

def _consume(kafka: KafkaSettings, fetch_max_wait_ms: int, ready: Any, stop: Any,
             results: Any) -> None:
    """Consumer process: record the arrival time of every record by key until stopped."""
    consumer = tail_consumer(kafka, "bench-latency-consumer",
                             fetch_max_wait_ms=fetch_max_wait_ms)
    ready.set()
    received: dict[str, float] = {}
    try:
        while not stop.is_set():
            batch = consumer.poll(timeout_ms=100)
            now = time.monotonic()
            for messages in batch.values():
                for message in messages:
                    received.setdefault(message.key.decode(), now)
            if received:  # a few records per poll at these rates: hand them over now
                results.put(received)
                received = {}
    finally:
        results.put(received)
        results.put(None)
        consumer.close()


def _relay(url: str, kafka: KafkaSettings, settings: RelaySettings, stop: Any) -> None:
    """Relay process: what ``okr-goals relay`` runs, until stopped."""
    engine = create_database_engine(url)
    relay = OutboxRelay(service=SERVICE, engine=engine, outbox_table=tables.plumbing.outbox,
                        kafka=kafka, settings=settings)
    stop_thread = threading.Event()
    def watch() -> None:
        stop.wait()
        stop_thread.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        relay.run(stop_thread)
    finally:
        engine.dispose()


class ConsumerProcess:
    def __init__(self, context: multiprocessing.context.SpawnContext, kafka: KafkaSettings,
                 fetch_max_wait_ms: int) -> None:
        self.ready = context.Event()
        self.stop = context.Event()
        self.results: Any = context.Queue()
        self.process = context.Process(
            target=_consume, args=(kafka, fetch_max_wait_ms, self.ready, self.stop,
                                   self.results), name="bench-consumer", daemon=True)
        self.received: dict[str, float] = {}

    def start(self) -> None:
        self.process.start()
        if not self.ready.wait(60):
            raise TimeoutError("the consumer process did not start")

    def collect(self) -> None:
        """Take what the process has sent so far (without stopping it)."""
        while True:
            try:
                part = self.results.get_nowait()
            except queue.Empty:
                return
            if part is not None:
                self.received.update(part)

    def finish(self) -> dict[str, float]:
        self.stop.set()
        deadline = time.monotonic() + 30
        done = False
        while not done and time.monotonic() < deadline:
            try:
                part = self.results.get(timeout=1)
            except queue.Empty:
                continue
            if part is None:
                done = True
            else:
                self.received.update(part)
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
        return self.received


# -- the writers ---------------------------------------------------------------------------

def paced(count: int, rate: float, action: Callable[[int], str], *, workers: int = 1,
          stamp_before: bool = False) -> tuple[dict[str, float], float]:
    """Start ``action(i)`` ``count`` times at ``rate``/s, on up to ``workers`` threads (a
    commit may take longer than 1/rate, as it does for an API with several workers); return
    key -> time the call returned (or started, with ``stamp_before``), and how far (ms) the
    calls started behind the schedule at worst."""
    done: dict[str, float] = {}
    lateness: list[float] = []
    start = time.monotonic()

    def call(index: int) -> None:
        before = time.monotonic()
        lateness.append(before - (start + index / rate))
        key = action(index)
        done[key] = before if stamp_before else time.monotonic()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-writer") as pool:
        futures = []
        for index in range(count):
            due = start + index / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            if workers == 1:
                call(index)
            else:
                futures.append(pool.submit(call, index))
            if index and index % max(1, int(rate * 5)) == 0:
                log(f"    {index:,}/{count:,} started")
        for future in futures:
            future.result()
    return done, max(lateness, default=0.0) * 1000


def wait_for(consumer: ConsumerProcess, keys: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        consumer.collect()
        if keys <= consumer.received.keys():
            return
        time.sleep(0.05)


def run_phase_relay(url: str, kafka: KafkaSettings, consumer: ConsumerProcess,
                    context: multiprocessing.context.SpawnContext, options: LatencyOptions,
                    tag: str) -> Phase:
    goals = bootstrap(_goals_config(url, kafka))
    outbox = Outbox(tables.plumbing.outbox)
    stop = context.Event()
    relay = context.Process(target=_relay, args=(url, kafka,
                                                 relay_settings(options.relay_batch_size), stop),
                            name="bench-relay", daemon=True)
    relay.start()

    def write(index: int) -> str:
        key = f"{tag}-{index:06d}"
        if options.writer == "uow":
            reference_data.create_cycle(goals.unit_of_work(), BENCH_ADMIN, key,
                                        date(2026, 10, 1), date(2026, 12, 31))
        else:
            item = cycle_event(key)
            with writing(goals.engine).begin() as connection:
                outbox.append(connection, item.event, item.key)
        return key

    try:
        # Warm up: the relay holds its lease and its producer is connected once this
        # event has come through.
        warmup = write(999_999)
        wait_for(consumer, {warmup}, 60)
        if warmup not in consumer.received:
            raise TimeoutError("the warm-up event did not come through the relay")
        count = int(options.rate * options.duration)
        sent, behind = paced(count, options.rate, write, workers=options.writers)
        wait_for(consumer, set(sent), DRAIN_SECONDS)
    finally:
        stop.set()
        relay.join(timeout=30)
        if relay.is_alive():
            relay.kill()
        goals.engine.dispose()
    return Phase("relay", sent, dict(consumer.received), behind)


def run_phase_plain(kafka: KafkaSettings, consumer: ConsumerProcess, options: LatencyOptions,
                    tag: str) -> Phase:
    producer = new_producer(kafka, client_id="bench-plain-producer")

    def send(index: int) -> str:
        item = cycle_event(f"{tag}-{index:06d}")
        producer.send(TOPIC, key=item.key.encode(), value=item.value, headers=item.headers)
        return item.key

    try:
        warmup = send(999_999)
        producer.flush(10)
        wait_for(consumer, {warmup}, 60)
        count = int(options.rate * options.duration)
        sent, behind = paced(count, options.rate, send, stamp_before=True)
        producer.flush(30)
        wait_for(consumer, set(sent), DRAIN_SECONDS)
    finally:
        producer.close(timeout=5)
    return Phase("plain", sent, dict(consumer.received), behind)


def _goals_config(url: str, kafka: KafkaSettings) -> GoalsConfig:
    return GoalsConfig(database_url=url, kafka=kafka, relay=relay_settings(),
                       admin_token=None, host="127.0.0.1", port=0, worker_metrics_port=0,
                       event_source="/okr/goals", log_level="WARNING", log_json=False)


# -- the benchmark -------------------------------------------------------------------------

def summarise(latencies: list[float]) -> dict[str, float]:
    return {"count": float(len(latencies)), "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95), "p99": percentile(latencies, 0.99),
            "max": max(latencies) if latencies else float("nan")}


def run_latency(database: str, options: LatencyOptions) -> BenchResult:
    context = multiprocessing.get_context("spawn")
    phases: list[tuple[int, Phase]] = []
    log(f"latency[{database}]: {options.rate:g} events/s for {options.duration:g} s x "
        f"{options.rounds} rounds per side, writer {options.writer}, consumer "
        f"fetch_max_wait_ms {options.fetch_max_wait_ms}")
    with running_broker() as kafka, goals_database(database, "latency") as url:
        consumer = ConsumerProcess(context, kafka, options.fetch_max_wait_ms)
        consumer.start()
        try:
            for round_no in range(1, options.rounds + 1):
                order = ["relay", "plain"] if round_no % 2 else ["plain", "relay"]
                for side in order:
                    tag = f"{side}{round_no}"
                    log(f"  round {round_no}: {side} side")
                    if side == "relay":
                        phase = run_phase_relay(url, kafka, consumer, context, options, tag)
                    else:
                        phase = run_phase_plain(kafka, consumer, options, tag)
                    stats = summarise(phase.latencies_ms())
                    log(f"  round {round_no}: {side:5s} p50 {stats['p50']:.1f} ms, "
                        f"p99 {stats['p99']:.1f} ms, max {stats['max']:.1f} ms, "
                        f"missing {phase.missing}, writer behind at worst "
                        f"{phase.behind_ms:.1f} ms")
                    phases.append((round_no, phase))
        finally:
            consumer.finish()
    sides = {side: [p for _, p in phases if p.side == side] for side in ("relay", "plain")}
    pooled = {side: summarise([x for p in ps for x in p.latencies_ms()])
              for side, ps in sides.items()}
    missing = {side: sum(p.missing for p in ps) for side, ps in sides.items()}
    p99_ratio = ratio(pooled["relay"]["p99"], pooled["plain"]["p99"])
    labels = {"relay": "relay (commit -> consumer)", "plain": "plain producer (send -> consumer)"}
    rows = []
    for round_no, phase in phases:
        s = summarise(phase.latencies_ms())
        rows.append([f"round {round_no} {phase.side}", fmt(s["count"], 0), fmt(s["p50"]),
                     fmt(s["p95"]), fmt(s["p99"]), fmt(s["max"]), str(phase.missing),
                     fmt(phase.behind_ms)])
    for side in ("relay", "plain"):
        s = pooled[side]
        rows.append([f"all {labels[side]}", fmt(s["count"], 0), fmt(s["p50"]), fmt(s["p95"]),
                     fmt(s["p99"]), fmt(s["max"]), str(missing[side]),
                     fmt(max(p.behind_ms for p in sides[side]))])
    relay_p99 = pooled["relay"]["p99"]
    return BenchResult(
        name="commit-to-consumer latency",
        database=database,
        headers=["", "events", "p50 ms", "p95 ms", "p99 ms", "max ms", "missing",
                 "writer late ms"],
        rows=rows,
        checks=[
            Check("relay p99 ms", relay_p99, f"< {TARGET_P99_MS:g}",
                  relay_p99 < TARGET_P99_MS),
            Check("ratio of p99s relay/plain", p99_ratio, "(reported)", True),
            Check("events missing", float(missing["relay"] + missing["plain"]), "= 0",
                  missing["relay"] + missing["plain"] == 0),
        ],
        details={
            "rate": options.rate, "duration": options.duration, "rounds": options.rounds,
            "writer": options.writer, "writers": options.writers,
            "fetch_max_wait_ms": options.fetch_max_wait_ms,
            "relay_batch_size": options.relay_batch_size,
            "pooled": pooled, "missing": missing, "p99_ratio": p99_ratio,
            "phases": [{"round": r, "side": p.side, "writer_behind_ms": p.behind_ms,
                        **summarise(p.latencies_ms()), "missing": p.missing}
                       for r, p in phases],
        },
        notes=[f"consumer fetch_max_wait_ms={options.fetch_max_wait_ms}: Tansu holds a fetch "
               "for the whole wait even when records are ready, so this sets a floor of "
               "about half of it on both sides"],
    )
