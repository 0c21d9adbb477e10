"""Benchmarks of the metrics service (``python -m bench.metrics``), each against a baseline
of the same run:

* consumer throughput: events/s applied to the read model vs a plain kafka-python consumer
  reading the same topic (target ratio >= 0.5);
* one check-in's roll-up update at 1,000 / 100,000 / 1,000,000 key results (target: the
  largest within 2x of the smallest);
* peak RSS of a process that bulk-loads a read model of N key results into the graph
  (target < 1 GiB at 1,000,000);
* ``/metrics`` rendering at 10,000 and 100,000 series vs prometheus_client's exposition
  of the same series (target < 1 s at 100,000); with ``--baseline-tree DIR`` (a checkout
  of another commit, e.g. ``git worktree add --detach ../old main``) also vs that code's
  render of the same read model, alternating;
* a check-in accepted by the goals API until the scraped ``/metrics`` shows it, at 50
  check-ins/s for 20 s, vs the relay hop of the same check-ins (201 -> a plain consumer
  of okr.goals.v1) (target p99 < 1 s).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import itertools
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import requests
from kafka import TopicPartition
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.common import (
    BenchResult,
    Check,
    free_port,
    goals_database,
    kafka_environment,
    load_average,
    log,
    pending_count,
    percentile,
    postgres_admin_url,
    relay_settings,
    render,
    running_broker,
    worker_process,
)
from bench.common import stop as stop_process
from bench.explain_read_model import keep_outlooks
from bench.goals_seed import seed_key_results
from bench.http_load import gunicorn
from bench.latency import paced
from bench.sampling import Tail
from services.goals.bootstrap import bootstrap as goals_bootstrap
from services.goals.config import GoalsConfig
from services.goals.service_layer.reference_data import seed_default_departments
from services.metrics.adapters import tables
from services.metrics.adapters.exposition import (
    RenderedRows,
    read_model_exposition,
    render_read_model,
)
from services.metrics.adapters.read_model import next_write
from services.metrics.bootstrap import Metrics, bootstrap
from services.metrics.config import SERVICE as METRICS_SERVICE
from services.metrics.config import MetricsConfig
from services.metrics.domain.forecast import pace
from services.metrics.domain.goal_items import (
    ContributionState,
    CycleState,
    ItemType,
    KeyResultState,
    Measure,
    ObjectiveKind,
    ObjectiveState,
)
from services.metrics.domain.rollup import RollupGraph
from services.metrics.domain.status import StatusThresholds
from services.metrics.entrypoints.cli import MIGRATIONS
from services.metrics.service_layer.projection import RollupProjection
from shared.clock import FakeClock
from shared.cloudevents import new_event
from shared.config import AuthSettings, KafkaSettings, RelaySettings
from shared.contract import EventType, Topic
from shared.messaging.kafka_clients import ensure_topics, new_consumer, new_producer
from shared.observability.metrics import EVENTS_CONSUMED
from shared.persistence.migrations import upgrade_to_head

AT = "2026-11-02T09:30:00Z"
KEY_RESULTS_PER_OBJECTIVE = 10
COLLECTIVE_EVERY = 20  # every 20th objective is a collective target of two departments
#: read-model series a key result makes: progress, value, target, confidence, last check-in
#: and its okr_key_result_info (one department)
SERIES_PER_KEY_RESULT = 6
OBJECTIVES_PER_TARGET = 100
PLAIN_MAX_RECORDS = 1000  # = OKR_METRICS_BATCH_SIZE's default


@dataclass(frozen=True)
class MetricsBenchOptions:
    database: str = "postgresql"
    events: int = 20_000           # throughput: events per round
    throughput_rounds: int = 5
    throughput_key_results: int = 10_000  # pre-loaded into the read model
    throughput_relay: bool = True  # the roll-up relay beside the consumer, as deployed
    # records a consumer transaction gathers (None: OKR_METRICS_BATCH_RECORDS's default;
    # PLAIN_MAX_RECORDS: one poll's, as before)
    throughput_batch_records: int | None = None
    rollup_sizes: tuple[int, ...] = (1_000, 100_000, 1_000_000)
    check_ins: int = 2_000
    rss_key_results: int = 1_000_000
    series: tuple[int, ...] = (10_000, 100_000)
    scrape_repeats: int = 5
    scrape_batch: int = 500  # key results written between two scrapes (kept lines)
    latency_rate: float = 50.0
    latency_seconds: float = 20.0
    latency_key_results: int = 10_000
    baseline_tree: str | None = None  # another checkout whose render the scrape compares
    windows: int = 0  # memory: check-ins in the window of each key result checked in
    memory_rounds: int = 1  # memory: loads of each tree, alternating
    keep_database: str | None = None  # memory: a PostgreSQL database kept across runs


# -- databases ---------------------------------------------------------------------------------

def kept_database(name: str) -> str:
    """The URL of the PostgreSQL database ``name``, kept between runs (``--reuse``):
    created and migrated the first time, used as it is afterwards (drop it by hand)."""
    admin = postgres_admin_url()
    with psycopg.connect(admin, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (name,)).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    upgrade_to_head(MIGRATIONS, url)
    return url


@contextlib.contextmanager
def metrics_database(kind: str, keep: str | None = None) -> Iterator[str]:
    """A fresh, migrated metrics database, dropped at the end; ``keep`` (PostgreSQL): the
    database of that name, created if missing, kept at the end (reused across runs)."""
    if keep is not None:
        if kind != "postgresql":
            raise ValueError("a kept database is a PostgreSQL one")
        yield kept_database(keep)
        return
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="okr-bench-metrics-") as directory:
            url = f"sqlite:///{Path(directory) / 'metrics.db'}"
            upgrade_to_head(MIGRATIONS, url)
            yield url
        return
    admin = postgres_admin_url()
    name = f"okr_bench_metrics_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_to_head(MIGRATIONS, url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def metrics_config(url: str, kafka: KafkaSettings, batch_size: int = 500) -> MetricsConfig:
    return MetricsConfig(
        database_url=url, kafka=kafka, relay=relay_settings(),
        auth=AuthSettings("http://127.0.0.1:9", 30.0), thresholds=StatusThresholds(),
        host="127.0.0.1", port=0, worker_metrics_port=0, event_source="/okr/metrics",
        consumer_group="okr-metrics", batch_size=batch_size, status_tick_seconds=0.0,
        max_series=1_000_000, log_level="WARNING", log_json=False)


# -- 1. consumer throughput ----------------------------------------------------------------------

def _goal_events(count: int, with_cycle: bool = True) -> list[tuple[str, bytes]]:
    """(key, value): a cycle (unless ``with_cycle`` is false), objectives with one key
    result each, then check-ins; fresh ids on every call."""
    def event(event_type: EventType, data: dict[str, Any]) -> bytes:
        return new_event(event_type, "/okr/goals", "bench", data).to_json()

    objectives = max(1, count // 100)
    out = [("cycle", event(EventType.CYCLE_CREATED, {
        "key": "2026-Q4", "name": "Q4", "starts_on": "2026-10-01", "ends_on": "2026-12-31",
        "version": 1, "created_at": AT, "updated_at": AT}))] if with_cycle else []
    ids = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(objectives)]
    for objective, kr in ids:
        out.append((objective, event(EventType.OBJECTIVE_CREATED, {
            "id": objective, "version": 1, "cycle": "2026-Q4", "kind": "department",
            "departments": ["sales"], "owner": "o", "title": "t", "description": "",
            "status": "active", "created_at": AT, "updated_at": AT})))
        out.append((objective, event(EventType.KEY_RESULT_CREATED, _kr(kr, objective, 1))))
    version = 1
    while len(out) < count:
        version += 1
        for objective, kr in ids:
            if len(out) >= count:
                break
            out.append((objective, event(EventType.KEY_RESULT_CHECKED_IN, {
                "key_result": _kr(kr, objective, version), "check_in": {
                    "id": str(uuid.uuid4()), "key_result_id": kr, "value": version % 100,
                    "confidence": 0.6, "note": "", "author": "b", "source": "system",
                    "created_at": AT}})))
    return out


def _kr(kr: str, objective: str, version: int) -> dict[str, Any]:
    return {"id": kr, "objective_id": objective, "version": version, "title": "k",
            "measure": "increase", "start": 0, "target": 100, "unit": "", "weight": 1,
            "aggregation": "check_ins", "current": version % 100, "confidence": 0.6,
            "last_checkin_at": AT if version > 1 else None, "created_at": AT,
            "updated_at": AT}


def _plain_consume(kafka: KafkaSettings, expected: int,
                   max_records: int = PLAIN_MAX_RECORDS) -> float:
    """Seconds a plain consumer takes to read ``expected`` records of okr.goals.v1 from its
    beginning (``bench scale``'s baseline)."""
    consumer = _PlainConsumer(kafka)
    try:
        return consumer.read(expected, max_records)
    finally:
        consumer.close()


class _PlainConsumer:
    """The baseline: a plain kafka-python consumer of okr.goals.v1 (assigned every
    partition, no group), kept across rounds so each round reads only the round's records."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.consumer = new_consumer(kafka, "bench-plain", group_id=None)
        tps = [TopicPartition(Topic.GOALS.value, p)
               for p in sorted(self.consumer.partitions_for_topic(Topic.GOALS.value) or set())]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)

    def read(self, expected: int, max_records: int = PLAIN_MAX_RECORDS) -> float:
        """Seconds to read the next ``expected`` records."""
        started, count = time.perf_counter(), 0
        while count < expected:
            for messages in self.consumer.poll(timeout_ms=500,
                                               max_records=max_records).values():
                count += len(messages)
        return time.perf_counter() - started

    def close(self) -> None:
        self.consumer.close()


def _processed(metrics: Metrics) -> int:
    processed = tables.plumbing.processed_events
    with metrics.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(processed)).scalar_one())


def _finished() -> float:
    """Events the metrics consumers of this process finished with (counted after their
    transaction committed): read in memory, so that watching the consumer costs it
    nothing (a ``count(*)`` of the processed events every 50 ms took ~25 ms each, 0.6-0.8 s
    of database work in a ~2 s round, on the cores the consumer shares)."""
    return sum(sample.value for metric in EVENTS_CONSUMED.collect() for sample in metric.samples
               if sample.name == "okr_events_consumed_total"
               and sample.labels["service"] == METRICS_SERVICE
               and sample.labels["topic"] == Topic.GOALS.value
               and sample.labels["outcome"] in ("applied", "duplicate"))


def _consume_round(metrics: Metrics, projection: RollupProjection, until: int
                   ) -> tuple[float, float]:
    """(seconds, group join seconds) of ``okr-metrics consume``'s consumer (a fresh runner on
    the kept projection) until ``until`` events are recorded as processed (seen finished in
    memory, then checked in the database). The clock starts when the group has assigned
    the partitions: Tansu holds a join for the rebalance timeout, which is not the
    consumer's speed."""
    finished = _finished() - _processed(metrics)  # the consumers' count before this runner
    runner = metrics.consumer(projection)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        joined = time.perf_counter()
        while runner.consumer is None or not runner.consumer.assignment():
            if time.perf_counter() - joined > 60:
                raise TimeoutError("the consumer never joined its group")
            time.sleep(0.005)
        started = time.perf_counter()
        while _finished() - finished < until:
            if not thread.is_alive():
                raise RuntimeError("the consumer stopped")
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        if _processed(metrics) < until:
            raise RuntimeError("events counted finished but not recorded as processed")
        return seconds, started - joined
    finally:
        stop.set()
        thread.join(timeout=30)


def consumer_throughput(options: MetricsBenchOptions) -> BenchResult:
    """The metrics consumer as ``okr-metrics consume`` runs it (its roll-up relay publishing
    okr.rollup.changed beside it, in the same process, unless ``relay`` is off) on a read
    model pre-loaded with ``throughput_key_results`` key results, against a plain consumer
    reading the same records; ``throughput_rounds`` rounds of fresh events, the order of the
    two sides swapped every round."""
    with running_broker() as kafka, metrics_database(options.database) as url:
        ensure_topics(kafka, "bench-admin")
        if options.throughput_key_results:
            fill_read_model(url, options.throughput_key_results)
        config = dataclasses.replace(metrics_config(url, kafka, batch_size=PLAIN_MAX_RECORDS),
                                     relay=RelaySettings.from_env({}))  # production's
        if options.throughput_batch_records is not None:
            config = dataclasses.replace(config,
                                         batch_records=options.throughput_batch_records)
        metrics = bootstrap(config)
        projection = metrics.projection()
        projection.load()
        held = sum(1 for _ in projection.graph.key_results())
        relay_stop = threading.Event()
        relay = threading.Thread(target=metrics.relay().run, args=(relay_stop,), daemon=True)
        if options.throughput_relay:
            relay.start()
        plain = _PlainConsumer(kafka)
        producer = new_producer(kafka, "bench-producer", linger_ms=20)
        rows: list[list[str]] = []
        ratios: list[float] = []
        loads: list[float] = []
        rates: dict[str, list[float]] = {"plain": [], "ours": []}
        joins: list[float] = []
        total = 0
        try:
            for number in range(options.throughput_rounds):
                events = _goal_events(options.events, with_cycle=number == 0)
                for key, value in events:
                    producer.send(Topic.GOALS.value, key=key.encode(), value=value)
                producer.flush(timeout=60)
                total += len(events)
                order = ("plain", "ours") if number % 2 == 0 else ("ours", "plain")
                seconds: dict[str, float] = {}
                for side in order:
                    if side == "plain":
                        seconds[side] = plain.read(len(events))
                    else:
                        seconds[side], join = _consume_round(metrics, projection, total)
                        joins.append(join)
                for side in seconds:
                    rates[side].append(len(events) / max(1e-9, seconds[side]))
                ratios.append(rates["ours"][-1] / rates["plain"][-1])
                loads.append(load_average())
                log(f"  round {number + 1}: ours {rates['ours'][-1]:,.0f}/s, plain "
                    f"{rates['plain'][-1]:,.0f}/s, ratio {ratios[-1]:.3f}, load {loads[-1]:.1f}")
                rows.append([f"round {number + 1} ({order[0]} first)", f"{len(events):,}",
                             f"{rates['plain'][-1]:,.0f}", f"{rates['ours'][-1]:,.0f}",
                             f"{ratios[-1]:.3f}", f"{loads[-1]:.1f}"])
            drained = time.monotonic() + 60  # the relay keeps up: it ends with nothing left
            while (options.throughput_relay and time.monotonic() < drained
                   and pending_count(metrics.engine, tables.plumbing.outbox)):
                time.sleep(0.1)
        finally:
            producer.close()
            plain.close()
            relay_stop.set()
            if relay.is_alive():
                relay.join(timeout=30)
        pending = pending_count(metrics.engine, tables.plumbing.outbox)
        metrics.engine.dispose()
    ratio = statistics.median(ratios)
    rows.append(["median", "", f"{statistics.median(rates['plain']):,.0f}",
                 f"{statistics.median(rates['ours']):,.0f}", f"{ratio:.3f}",
                 f"{statistics.median(loads):.1f}"])
    rows.append(["spread", "", "", "", f"{min(ratios):.3f}-{max(ratios):.3f}",
                 f"{min(loads):.1f}-{max(loads):.1f}"])
    relay_note = ("its roll-up relay publishing okr.rollup.changed in the same process, as "
                  f"okr-metrics consume runs it ({pending} roll-up events left unpublished "
                  "60 s after the last round)" if options.throughput_relay else "no roll-up relay")
    return BenchResult(
        f"metrics consumer throughput, read model of {held:,} key results", options.database,
        ["round", "events", "plain events/s", "okr-metrics consume events/s", "ratio",
         "load avg"],
        rows, [Check("throughput ratio (median)", ratio, ">= 0.5", ratio >= 0.5)],
        details={"ratios": ratios, "median_ratio": ratio, "load_averages": loads,
                 "rates": rates, "key_results_held": held,
                 "relay": options.throughput_relay, "unpublished_rollup_events": pending,
                 "batch_records": config.batch_records},
        notes=[relay_note,
               "timed from the partition assignment (the group join, median "
               f"{statistics.median(joins):.1f} s of Tansu's rebalance wait, is left out); "
               "plain: assign + seek, same topic, same records, "
               f"max_records={PLAIN_MAX_RECORDS} for both, CRC checks on; ours gathers up to "
               f"{config.batch_records:,} records a transaction"])


# -- 2. one check-in's roll-up at growing sizes ----------------------------------------------------

def build_graph(key_results: int) -> tuple[RollupGraph, list[KeyResultState]]:
    """Key results in department objectives under collective targets under one top target."""
    graph = RollupGraph(clock=lambda: datetime(2026, 11, 15, tzinfo=UTC))
    graph.upsert_cycle(CycleState("2026-Q4", 1, datetime(2026, 10, 1).date(),
                                  datetime(2026, 12, 31).date()))
    top = ObjectiveState("top", 1, "2026-Q4", ObjectiveKind.COLLECTIVE, ("marketing", "sales"))
    graph.upsert_objective(top)
    states = []
    objectives = max(1, key_results // KEY_RESULTS_PER_OBJECTIVE)
    for o in range(objectives):
        target = f"t{o // OBJECTIVES_PER_TARGET}"
        if o % OBJECTIVES_PER_TARGET == 0:
            graph.upsert_objective(ObjectiveState(target, 1, "2026-Q4", ObjectiveKind.COLLECTIVE,
                                                  ("marketing", "sales")))
            graph.add_contribution(ContributionState(f"c{target}", 1, ItemType.OBJECTIVE,
                                                     target, ItemType.OBJECTIVE, "top"))
        objective = f"o{o}"
        graph.upsert_objective(ObjectiveState(objective, 1, "2026-Q4",
                                              ObjectiveKind.DEPARTMENT, ("sales",)))
        graph.add_contribution(ContributionState(f"c{objective}", 1, ItemType.OBJECTIVE,
                                                 objective, ItemType.OBJECTIVE, target))
        for k in range(KEY_RESULTS_PER_OBJECTIVE):
            state = KeyResultState(f"k{o}-{k}", 1, objective, Measure.INCREASE, 0.0, 100.0)
            graph.upsert_key_result(state)
            states.append(state)
    return graph, states


def check_in_cost(graph: RollupGraph, states: list[KeyResultState], count: int) -> float:
    chosen = random.Random(7).choices(states, k=count)
    versions = {state.id: 1 for state in chosen}
    started = time.perf_counter()
    for number, state in enumerate(chosen):
        versions[state.id] += 1
        graph.record_check_in(state.id, versions[state.id], float(number % 100), 0.7, None)
    return (time.perf_counter() - started) / count


def rollup_scaling(options: MetricsBenchOptions) -> BenchResult:
    rows, costs = [], {}
    for size in options.rollup_sizes:
        graph, states = build_graph(size)
        costs[size] = check_in_cost(graph, states, options.check_ins)
        rows.append([f"{size:,}", f"{costs[size] * 1e6:.1f}"])
        del graph, states
    smallest, largest = min(costs), max(costs)
    ratio = costs[largest] / costs[smallest]
    return BenchResult("one check-in's roll-up update", "memory", ["key results", "µs/check-in"],
                       rows, [Check(f"{largest:,} vs {smallest:,}", ratio, "<= 2", ratio <= 2)])


# -- 3. peak RSS holding N key results -------------------------------------------------------------

WEEK = 7 * 86_400.0


def window_of(k: int, checked_in: float, last: float, size: int) -> str | None:
    """A key result's window as the read model stores it: ``size`` weekly check-ins, the
    last one its latest check-in (at ``last``, of value ``checked_in``, version
    ``size + 1``), the values growing toward it."""
    return _window(1.0 + k % 7, checked_in, last, size)[0]


def window_pace(k: int, checked_in: float, last: float, size: int) -> float | None:
    """The pace the consumer writes beside :func:`window_of`'s window (``forecast.pace``)."""
    return _window(1.0 + k % 7, checked_in, last, size)[1]


@functools.cache
def _window(step: float, checked_in: float, last: float, size: int
            ) -> tuple[str | None, float | None]:
    if size <= 0:
        return None, None
    window = [(last - (size - 1 - i) * WEEK, checked_in - (size - 1 - i) * step, i + 2)
              for i in range(size)]
    return json.dumps(window), pace(window)


def fill_read_model(url: str, key_results: int, windows: int = 0) -> None:
    """N key results (10 per objective) written straight into the read model; with
    ``windows``, each key result checked in has a window of that many weekly check-ins
    (what forecasts are fitted to; the consumer keeps up to 12)."""
    metrics = bootstrap(metrics_config(url, KafkaSettings("127.0.0.1:9", 1, 1, 1, 1, 1)))
    now = datetime.now(UTC)
    with metrics.engine.begin() as connection:
        connection.execute(tables.cycles.insert(), [{
            "key": "2026-Q4", "version": 1, "starts_on": datetime(2026, 10, 1).date(),
            "ends_on": datetime(2026, 12, 31).date()}])
        objectives = max(1, key_results // KEY_RESULTS_PER_OBJECTIVE)
        for start in range(0, objectives, 10_000):
            connection.execute(tables.objectives.insert(), [{
                "id": str(uuid.UUID(int=o)), "version": 1, "cycle": "2026-Q4",
                "kind": "collective" if o % COLLECTIVE_EVERY == 0 else "department",
                "departments": "marketing+sales" if o % COLLECTIVE_EVERY == 0 else "sales",
                "title": f"Objective {o}: win \"key\" accounts in the north region",
                "owner": f"Owner {o % 50}", "archived": False, "progress": None,
                "attainment": None, "confidence": None, "status": None, "updated_at": now}
                for o in range(start, min(objectives, start + 10_000))])
        for start in range(0, key_results, 20_000):
            connection.execute(tables.key_results.insert(), [{
                "id": str(uuid.uuid4()),
                "version": 2 if windows <= 0 or k % 10 == 9 else windows + 1,
                "objective_id": str(uuid.UUID(int=k // KEY_RESULTS_PER_OBJECTIVE)),
                "title": f"Key result {k}: signed contracts", "measure": "increase",
                "aggregation": "check_ins",
                "start": 0.0, "target": 100.0, "unit": "EUR", "weight": 1.0,
                "checked_in": float(k % 100), "given_confidence": 0.7,
                "last_checkin_at": None if k % 10 == 9 else 1.8e9,
                "check_ins": None if k % 10 == 9 else window_of(k, float(k % 100), 1.8e9,
                                                                windows),
                "pace": None if k % 10 == 9 else window_pace(k, float(k % 100), 1.8e9,
                                                             windows),
                "value": None, "progress": None, "attainment": None, "confidence": None}
                for k in range(start, min(key_results, start + 20_000))])
    metrics.engine.dispose()


LOAD_AND_MEASURE = """
import resource, sys, time
from services.metrics.bootstrap import Metrics, bootstrap
from bench.metrics import metrics_config
from shared.config import KafkaSettings
def kib(field):
    # this process's own figures: ru_maxrss keeps the RSS of the process that forked it
    # (the benchmark's, ~40 MiB more than the consumer holds before its load)
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
metrics = bootstrap(metrics_config(sys.argv[1], KafkaSettings("127.0.0.1:9", 1, 1, 1, 1, 1)))
before = kib("VmRSS:")
started, cpu = time.perf_counter(), time.process_time()
projection = metrics.projection()
projection.load()
held = sum(1 for _ in projection.graph.key_results())
print(held, before, kib("VmHWM:"), time.perf_counter() - started, time.process_time() - cpu)
"""


def _load_in_process(url: str, tree: str | None) -> tuple[int, int, int, float, float]:
    """(key results held, RSS before KiB, peak KiB, load s, load CPU s) of a fresh process
    loading the read model with the code of ``tree`` (None: this checkout)."""
    extra = {} if tree is None else {"cwd": tree, "env": {**os.environ, "PYTHONPATH": tree}}
    output = subprocess.run([sys.executable, "-c", LOAD_AND_MEASURE, url], check=True,
                            capture_output=True, text=True, timeout=1800,
                            **extra).stdout.split()  # type: ignore[call-overload]
    return (int(output[0]), int(output[1]), int(output[2]), float(output[3]),
            float(output[4]))


def key_results_in(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM key_results").fetchone()
    return 0 if row is None else int(row[0])


def consumer_memory(options: MetricsBenchOptions) -> BenchResult:
    size = options.rss_key_results
    rows, notes = [], []
    peaks: list[int] = []
    with metrics_database(options.database, options.keep_database) as url:
        started = time.perf_counter()
        if options.keep_database is not None and key_results_in(url) == size:
            notes.append(f"read model of database {options.keep_database} reused")
        else:
            if options.keep_database is not None:
                _empty_read_model(url)
            fill_read_model(url, size, options.windows)
            notes.append(f"read model filled in {time.perf_counter() - started:.1f} s")
        trees: list[tuple[str, str | None]] = [("this checkout", None)]
        if options.baseline_tree is not None:
            trees.append((f"baseline {options.baseline_tree}", options.baseline_tree))
        for round_ in range(options.memory_rounds):
            for name, tree in trees:
                load = f"{os.getloadavg()[0]:.1f}"
                held, before_kib, peak_kib, seconds, cpu = _load_in_process(url, tree)
                peak = peak_kib * 1024
                if tree is None:
                    peaks.append(peak)
                rows.append([f"{round_ + 1}: {name}", f"{held:,}", f"{peak / 2**20:.0f}",
                             f"{before_kib / 1024:.0f}",
                             f"{(peak - before_kib * 1024) / max(1, held):.0f}",
                             f"{seconds:.1f}", f"{cpu:.1f}", load])
                log(f"  memory: {' | '.join(rows[-1])}")
    peak = max(peaks)
    notes += [f"windows of {options.windows} check-ins a key result checked in"
              if options.windows else "no windows: a key result's one check-in",
              "loaded by the consumer's path (RollupProjection.load); RSS and peak (VmHWM) "
              "of the loading process itself; rounds alternate with the baseline tree"]
    return BenchResult(
        "metrics consumer memory", options.database,
        ["round: code", "key results", "peak RSS (MiB)", "RSS before load (MiB)",
         "bytes/key result", "load s", "load CPU s", "load average"],
        rows, [Check("peak RSS (MiB)", peak / 2**20, "< 512", peak < 512 * 2**20)],
        notes=notes)


def _empty_read_model(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        for table in reversed(tables.READ_MODEL_TABLES):
            connection.execute(f'DELETE FROM "{table.name}"')


# -- 4. /metrics rendering -------------------------------------------------------------------------

def client_library_exposition(url: str) -> str:
    """The same key-result series (and their okr_key_result_info) through prometheus_client
    metric objects."""
    metrics = bootstrap(metrics_config(url, KafkaSettings("127.0.0.1:9", 1, 1, 1, 1, 1)))
    k, o = tables.key_results, tables.objectives

    class ReadModel:
        def collect(self) -> Iterator[GaugeMetricFamily]:
            labels = ["key_result_id", "objective_id", "cycle", "department"]
            families = [GaugeMetricFamily(name, "", labels=labels) for name in (
                "okr_key_result_progress_ratio", "okr_key_result_value",
                "okr_key_result_target_value", "okr_key_result_confidence_ratio",
                "okr_key_result_last_checkin_timestamp_seconds")]
            info = GaugeMetricFamily("okr_key_result_info", "", labels=[
                "key_result_id", "objective_id", "title", "unit", "measure", "cycle"])
            with metrics.engine.connect() as connection:
                for row in connection.execute(select(
                        k.c.id, k.c.objective_id, o.c.cycle, o.c.departments, k.c.progress,
                        k.c.value, k.c.target, k.c.confidence, k.c.last_checkin_at, k.c.title,
                        k.c.unit, k.c.measure).join(o, o.c.id == k.c.objective_id)):
                    info.add_metric([row.id, row.objective_id, row.title, row.unit,
                                     row.measure, row.cycle], 1)
                    for department in row.departments.split("+"):
                        values = [row.id, row.objective_id, row.cycle, department]
                        for family, value in zip(families, (
                                row.progress, row.value, row.target, row.confidence,
                                row.last_checkin_at or 0.0), strict=True):
                            if value is not None:
                                family.add_metric(values, value)
            yield info
            yield from families

    registry = CollectorRegistry()
    registry.register(ReadModel())
    text = generate_latest(registry).decode()
    metrics.engine.dispose()
    return text


def _peak(function: Any, *args: Any) -> int:
    """tracemalloc's peak of Python allocations during a call (tracing slows the call a
    lot, so timings come from separate, untraced calls)."""
    tracemalloc.start()
    function(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _seconds(function: Any, *args: Any) -> tuple[float, float, Any]:
    """(wall s, this process's CPU s, result) of one call."""
    started, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return time.perf_counter() - started, time.process_time() - cpu, result


RENDER_LOOP = """
import sys, time
from sqlalchemy import create_engine
from services.metrics.adapters.exposition import render_read_model
engine = create_engine(sys.argv[1])
render_read_model(engine, 10_000_000)  # warm the connection and the imports
print("ready", flush=True)
for _ in sys.stdin:
    started, cpu = time.perf_counter(), time.process_time()
    text = render_read_model(engine, 10_000_000)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    lines = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    print(seconds, cpu, lines, flush=True)
"""


class _Renderer:
    """A process rendering the read model with the code of ``tree``, one render per request
    (so two commits' code can be timed alternately on the same database)."""

    def __init__(self, tree: str, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", RENDER_LOOP, url], cwd=tree, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": tree})
        assert self.process.stdout is not None and self.process.stdin is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        if self.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the render loop of {tree} did not start")

    def render(self) -> tuple[float, float, int]:
        """(wall s, CPU s, series) of one render."""
        self.stdin.write("render\n")
        self.stdin.flush()
        seconds, cpu, lines = self.stdout.readline().split()
        return float(seconds), float(cpu), int(lines)

    def close(self) -> None:
        self.stdin.close()
        self.process.wait(timeout=60)


def scrape_time(options: MetricsBenchOptions) -> BenchResult:
    rows, checks, notes = [], [], []
    for series in options.series:
        with metrics_database(options.database) as url:
            fill_read_model(url, series // SERIES_PER_KEY_RESULT)
            metrics = bootstrap(metrics_config(url, KafkaSettings("127.0.0.1:9", 1, 1, 1, 1, 1)))
            with metrics.engine.begin() as connection:  # figures as the consumer writes them
                k = tables.key_results
                connection.execute(k.update().values(
                    progress=k.c.checked_in / 100.0, value=func.coalesce(k.c.checked_in, 0.0),
                    confidence=0.7))
            keep_outlooks(metrics.engine, datetime.now(UTC))
            # the API process's lines, kept from its last scrape
            rendered = RenderedRows()
            read_model_exposition(metrics.engine, 10_000_000, rendered=rendered)
            baseline = (None if options.baseline_tree is None
                        else _Renderer(options.baseline_tree, url))
            # the machine is shared: alternate ours (from nothing, then from the lines kept
            # with a batch written since), the baseline tree's and the library's, take the
            # medians
            ours_runs, ours_cpu, library_runs, pieces = [], [], [], []
            kept_runs, kept_cpu = [], []
            baseline_runs, baseline_cpu = [], []
            baseline_lines = 0
            for _ in range(options.scrape_repeats):
                # what the API serves: the pieces, sent one after another
                seconds, cpu, pieces = _seconds(read_model_exposition, metrics.engine,
                                                10_000_000)
                ours_runs.append(seconds)
                ours_cpu.append(cpu)
                write_batch(metrics, options.scrape_batch)
                seconds, cpu, _ = _seconds(functools.partial(read_model_exposition,
                                                             rendered=rendered),
                                           metrics.engine, 10_000_000)
                kept_runs.append(seconds)
                kept_cpu.append(cpu)
                if baseline is not None:
                    seconds, cpu, baseline_lines = baseline.render()
                    baseline_runs.append(seconds)
                    baseline_cpu.append(cpu)
                library_runs.append(_seconds(client_library_exposition, url)[0])
            if baseline is not None:
                baseline.close()
            ours, library = statistics.median(ours_runs), statistics.median(library_runs)
            # the kept render is the render from nothing, byte for byte (at one moment)
            write_batch(metrics, options.scrape_batch)
            stopped = FakeClock(datetime.now(UTC))
            same = (render_read_model(metrics.engine, 10_000_000, stopped, rendered)
                    == render_read_model(metrics.engine, 10_000_000, stopped))
            ours_peak = _peak(read_model_exposition, metrics.engine, 10_000_000)
            library_peak = _peak(client_library_exposition, url)
            metrics.engine.dispose()
        text = b"".join(pieces).decode()
        lines = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        kept = statistics.median(kept_runs)
        row = [f"{lines:,}", f"{kept:.3f}", f"{statistics.median(kept_cpu):.3f}",
               f"{ours:.3f}", f"{min(ours_runs):.3f}", f"{statistics.median(ours_cpu):.3f}",
               f"{ours_peak / 2**20:.0f}", f"{library:.3f}",
               f"{library_peak / 2**20:.0f}", f"{library / kept:.1f}",
               "yes" if same else "NO"]
        if baseline_runs:
            old, old_cpu = statistics.median(baseline_runs), statistics.median(baseline_cpu)
            row += [f"{baseline_lines:,}", f"{old:.3f}", f"{old_cpu:.3f}", f"{kept / old:.2f}",
                    f"{statistics.median(kept_cpu) / old_cpu:.2f}", f"{ours / old:.2f}"]
        rows.append(row)
        checks.append(Check(f"scrape's render s at {lines:,} series", kept, "< 1 at 100,000",
                            series < 100_000 or kept < 1.0))
    headers = ["series", "ours kept s (median)", "kept CPU s (median)",
               "ours from nothing s (median)", "from nothing s (best)",
               "from nothing CPU s (median)", "ours peak MiB", "prometheus_client s (median)",
               "its peak MiB", "speed-up (kept)", "kept = from nothing"]
    if options.baseline_tree is not None:
        headers += ["baseline tree series", "baseline tree s (median)",
                    "baseline tree CPU s (median)", "kept / baseline", "CPU kept / baseline",
                    "from nothing / baseline"]
        notes.append(f"baseline tree: {options.baseline_tree} (its render of the same read "
                     "model, in its own process, alternating with ours)")
    return BenchResult(
        "/metrics rendering", options.database, headers, rows, checks,
        notes=[f"{options.scrape_repeats} untraced renders each, ours and the library's "
               "alternating; ours kept: the render of a scrape, from the lines kept from the "
               f"last one, {options.scrape_batch:,} key results written since (as a consumer "
               "batch writes them); from nothing: the first scrape of a process; "
               "CPU = this process's (the database's own work is not in it); "
               "peak = tracemalloc peak of Python allocations in one more, traced, render; "
               f"{SERIES_PER_KEY_RESULT} series per key result, 10 key results per "
               f"objective, every {COLLECTIVE_EVERY}th a collective target of two departments",
               *notes])


def write_batch(metrics: Metrics, count: int) -> None:
    """``count`` key results written as a consumer batch writes them: their figures moved,
    under the serial of a new write."""
    k = tables.key_results
    with metrics.engine.begin() as connection:
        serial = next_write(connection)
        ids = connection.execute(select(k.c.id).order_by(func.random()).limit(count)).scalars()
        connection.execute(k.update().where(k.c.id.in_(list(ids))).values(
            value=k.c.value + 1.0, progress=k.c.progress + 0.001, written=serial))


# -- 5. check-in accepted by goals -> visible in /metrics ---------------------------------------

LATENCY_TOKEN = "bench-admin-token-0123456789"
LATENCY_TARGET = 1_000_000.0  # a check-in's value j shows as progress j / 1e6: unique


SCRAPER = r"""
import re, sys, time, requests
url, target = sys.argv[1], float(sys.argv[2])
index = {kr: i for i, kr in enumerate(sys.stdin.readline().split())}
line = re.compile(rb'^okr_key_result_progress_ratio\{key_result_id="([^"]*)"[^\n]* (\S+)$', re.M)
session = requests.Session()
while True:
    body = session.get(url, timeout=30).content
    at = time.monotonic()
    shown, values = 0, []
    for key_result, progress in line.findall(body):
        i = index.get(key_result.decode())
        if i is not None:
            shown += 1
            value = round(float(progress) * target)
            if value:
                values.append(f"{i}:{value}")
    print(at, shown, *values, flush=True)
"""


@dataclass
class Scrapes:
    """A tight loop scraping ``/metrics``, in a process of its own (as Prometheus is): for
    each key result, when each value first showed (values only grow, so a later value shows
    every earlier check-in too).

    Only the changes are kept, not every scrape, so a run of minutes stays small."""

    url: str
    key_results: dict[str, int]  # key result id -> its index
    ended: list[float] = field(default_factory=list)  # when each scrape ended
    #: key result index -> each new value and the end of the scrape that first showed it
    changes: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    shown: int = 0  # key results of ours in the last scrape

    def run(self, stop: threading.Event) -> None:
        scraper = subprocess.Popen(
            [sys.executable, "-c", SCRAPER, self.url, repr(LATENCY_TARGET)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert scraper.stdin is not None and scraper.stdout is not None
        by_index = sorted(self.key_results, key=self.key_results.__getitem__)
        scraper.stdin.write(" ".join(by_index).encode() + b"\n")
        scraper.stdin.flush()
        try:
            for line in scraper.stdout:
                at_text, shown, *values = line.split()
                at = float(at_text)
                for value_text in values:
                    index, value = (int(part) for part in value_text.split(b":"))
                    seen = self.changes.setdefault(index, [])
                    if not seen or value > seen[-1][0]:
                        seen.append((value, at))
                self.ended.append(at)
                self.shown = int(shown)
                if stop.is_set():
                    break
        finally:
            stop_process(scraper)

    def visible_at(self, key_result: int, value: int) -> float | None:
        return next((at for shown, at in self.changes.get(key_result, ()) if shown >= value),
                    None)


def check_in_latency(options: MetricsBenchOptions) -> BenchResult:
    """Goals API (gunicorn) -> ``okr-goals relay`` -> Tansu -> ``okr-metrics consume`` ->
    ``/metrics`` of ``okr-metrics serve`` (gunicorn): each a process of its own, as deployed,
    at a steady rate of check-ins posted over HTTP."""
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        kafka = stack.enter_context(running_broker())
        goals_url = stack.enter_context(goals_database(options.database, "metrics"))
        url = stack.enter_context(metrics_database(options.database))
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="okr-bench-")))
        common = kafka_environment(kafka)
        goals_env = {**common, "OKR_GOALS_DATABASE_URL": goals_url,
                     "OKR_ADMIN_TOKEN": LATENCY_TOKEN,
                     "OKR_GOALS_WORKER_METRICS_PORT": str(free_port())}
        goals = goals_bootstrap(GoalsConfig.from_env(goals_env))
        try:
            seed_default_departments(goals.unit_of_work())
            # a read model of realistic size: every scrape renders all of them
            key_results = seed_key_results(goals.unit_of_work, options.latency_key_results,
                                           target=LATENCY_TARGET)
        finally:
            goals.close()
        goals_api = stack.enter_context(gunicorn("services.goals.entrypoints.wsgi:app",
                                                 goals_env, workers=2, threads=4))
        metrics_env = {**common, "OKR_METRICS_DATABASE_URL": url,
                       "OKR_METRICS_WORKER_METRICS_PORT": str(free_port())}
        metrics_api = stack.enter_context(gunicorn("services.metrics.entrypoints.wsgi:app",
                                                   metrics_env, workers=1, threads=4))
        stack.enter_context(worker_process(["okr-goals", "relay"], goals_env, log_dir))
        stack.enter_context(worker_process(["okr-metrics", "consume"], metrics_env, log_dir))
        goals_base = f"http://{goals_api.host}:{goals_api.port}"
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {LATENCY_TOKEN}"

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = session.post(f"{goals_base}{path}", json=body, timeout=10)
            if response.status_code != 201:
                raise RuntimeError(f"{path}: {response.status_code} {response.text}")
            created: dict[str, Any] = response.json()
            return created

        tail_of_goals = Tail(kafka, client_id="bench-latency-tail")
        arrived = tail_of_goals.arrived
        tail = tail_of_goals.start(stop)
        scrapes = Scrapes(f"http://{metrics_api.host}:{metrics_api.port}/metrics",
                          {kr: i for i, kr in enumerate(key_results)})
        scraper = threading.Thread(target=scrapes.run, args=(stop,), daemon=True)
        scraper.start()
        try:
            # the consumer's group join, then the seeded items through relay and consumer
            deadline = time.monotonic() + 120 + len(key_results) / 100
            while scrapes.shown < len(key_results):
                if time.monotonic() > deadline:
                    raise TimeoutError("the key results never showed in /metrics")
                time.sleep(0.05)

            def check_in(index: int) -> str:
                value = index + 1
                post(f"/v1/key-results/{key_results[index % len(key_results)]}/check-ins",
                     {"value": value, "confidence": 0.7})
                return str(value)

            count = max(1, round(options.latency_rate * options.latency_seconds))
            log(f"  {count} check-ins at {options.latency_rate:g}/s")
            accepted, behind_ms = paced(count, options.latency_rate, check_in, workers=4)
            load = load_average()
            deadline = time.monotonic() + 30
            while (any(scrapes.visible_at((v - 1) % len(key_results), v) is None
                       for v in range(max(1, count - len(key_results) + 1), count + 1))
                   and time.monotonic() < deadline):
                time.sleep(0.05)
        finally:
            stop.set()
            tail.join(timeout=10)
            scraper.join(timeout=10)
    visible, hop, missing = [], [], 0
    for key, at in accepted.items():
        value = int(key)
        shown = scrapes.visible_at((value - 1) % len(key_results), value)
        if shown is None:
            missing += 1
            continue
        visible.append((shown - at) * 1000)
        if value in arrived:
            hop.append((arrived[value] - at) * 1000)
    p99 = percentile(visible, 0.99) if visible else math.inf
    # scrapes while the check-ins came (those of the read model filling up are quicker)
    first = min(accepted.values(), default=0.0)
    spans = [b - a for a, b in itertools.pairwise(scrapes.ended) if a >= first]
    return BenchResult(
        "check-in -> /metrics latency", options.database,
        ["path", "check-ins", "p50 ms", "p99 ms", "max ms"],
        [["baseline: 201 -> plain consumer of okr.goals.v1 (relay hop)", str(len(hop)),
          f"{percentile(hop, 0.5):.0f}", f"{percentile(hop, 0.99):.0f}",
          f"{max(hop, default=math.nan):.0f}"],
         ["201 -> scraped /metrics shows it", str(len(visible)),
          f"{percentile(visible, 0.5):.0f}", f"{p99:.0f}",
          f"{max(visible, default=math.nan):.0f}"]],
        [Check("p99 s", p99 / 1000, "< 1", missing == 0 and p99 < 1000)],
        details={"p50_ms": percentile(visible, 0.5), "p99_ms": p99,
                 "hop_p50_ms": percentile(hop, 0.5), "hop_p99_ms": percentile(hop, 0.99),
                 "missing": missing, "key_results": len(key_results),
                 "load_average": load},
        notes=[f"{options.latency_rate:g} check-ins/s for {options.latency_seconds:g} s over "
               f"{len(key_results):,} key results (all in the read model, every scrape serves "
               f"them), 4 posting threads; load average {load:.1f}; {missing} never seen; "
               f"posts behind schedule at worst {behind_ms:.0f} ms; a scrape every "
               f"{1000 * statistics.median(spans or [0.0]):.0f} ms while the check-ins came "
               "(median; its end is the moment seen); goals API, relay, consumer, metrics "
               "API: one process each"])


# -- command line ----------------------------------------------------------------------------------

BENCHMARKS = ("throughput", "rollup", "memory", "scrape", "latency")


def run_metrics_benchmarks(options: MetricsBenchOptions,
                           only: Sequence[str] = BENCHMARKS) -> list[BenchResult]:
    runners = {"throughput": consumer_throughput, "rollup": rollup_scaling,
               "memory": consumer_memory, "scrape": scrape_time, "latency": check_in_latency}
    results = []
    for name in only:
        log(f"metrics benchmark: {name}")
        results.append(runners[name](options))
        print(render(results[-1]) + "\n", flush=True)
    return results


def quick_options(database: str) -> MetricsBenchOptions:
    return MetricsBenchOptions(database=database, events=2_000, throughput_rounds=2,
                               throughput_key_results=1_000, rollup_sizes=(1_000, 10_000),
                               check_ins=500, rss_key_results=10_000, series=(3_000, 10_000),
                               latency_seconds=2.0, latency_key_results=1_000)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics", description=__doc__)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--only", action="append", choices=BENCHMARKS)
    parser.add_argument("--quick", action="store_true", help="small sizes for a fast look")
    parser.add_argument("--series", type=int, action="append",
                        help="read-model series of the scrape benchmark (repeatable; "
                             "default 10,000 and 100,000)")
    parser.add_argument("--scrape-repeats", type=int, default=5)
    parser.add_argument("--scrape-batch", type=int, default=500,
                        help="scrape: key results written between two scrapes of the kept "
                             "render (default 500)")
    parser.add_argument("--baseline-tree", metavar="DIR",
                        help="also time the render of another checkout (e.g. a worktree of "
                             "main) on the same read model, alternating with ours")
    parser.add_argument("--windows", type=int, default=0,
                        help="memory: check-ins in each key result's window (the consumer "
                             "keeps up to 12; default 0: its one check-in)")
    parser.add_argument("--rss-key-results", type=int,
                        help="memory: key results in the read model (default 1,000,000)")
    parser.add_argument("--memory-rounds", type=int, default=1,
                        help="memory: loads of each tree (with --baseline-tree, alternating)")
    parser.add_argument("--keep-database", metavar="NAME",
                        help="memory: use (create if missing) and keep this PostgreSQL "
                             "database; its read model is reused when it has the size asked")
    parser.add_argument("--key-results", type=int,
                        help="throughput and latency: key results in the read model "
                             "(default 10,000; quick 1,000)")
    parser.add_argument("--events", type=int, help="throughput: events per round "
                                                   "(default 20,000; quick 2,000)")
    parser.add_argument("--rounds", type=int, help="throughput: rounds (default 5; quick 2)")
    parser.add_argument("--no-relay", action="store_true",
                        help="throughput: no roll-up relay beside the consumer")
    parser.add_argument("--batch-records", type=int,
                        help="throughput: records the consumer gathers into one transaction "
                             f"(default: OKR_METRICS_BATCH_RECORDS's; {PLAIN_MAX_RECORDS}: "
                             "one poll's)")
    args = parser.parse_args(argv)
    options = quick_options(args.database) if args.quick else MetricsBenchOptions(
        database=args.database)
    key_results = args.key_results
    options = dataclasses.replace(
        options, baseline_tree=args.baseline_tree, scrape_repeats=args.scrape_repeats,
        scrape_batch=args.scrape_batch,
        series=tuple(args.series) if args.series else options.series,
        events=args.events or options.events,
        throughput_rounds=args.rounds or options.throughput_rounds,
        throughput_relay=not args.no_relay,
        throughput_batch_records=args.batch_records,
        throughput_key_results=(options.throughput_key_results if key_results is None
                                else key_results),
        latency_key_results=key_results or options.latency_key_results,
        windows=args.windows, memory_rounds=args.memory_rounds,
        keep_database=args.keep_database,
        rss_key_results=args.rss_key_results or options.rss_key_results)
    run_metrics_benchmarks(options, args.only or BENCHMARKS)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def metrics_summary(database: str, quick: bool = False) -> BenchResult:
    """Every metrics benchmark (each printed as it finishes), as one result for bench.cli."""
    options = quick_options(database) if quick else MetricsBenchOptions(database=database)
    results = run_metrics_benchmarks(options)
    return BenchResult("metrics service (summary)", database, ["benchmark", "checks met"],
                       [[r.name, f"{sum(c.met for c in r.checks)}/{len(r.checks)}"]
                        for r in results],
                       [check for r in results for check in r.checks])
