"""Benchmarks of the metrics service (``python -m bench.metrics``), each against a baseline
of the same run:

* consumer throughput: events/s applied to the read model vs a plain kafka-python consumer
  reading the same topic (target ratio >= 0.5);
* one check-in's roll-up update at 1,000 / 100,000 / 1,000,000 key results (target: the
  largest within 2x of the smallest);
* peak RSS of a process that bulk-loads a read model of N key results into the graph
  (target < 1 GiB at 1,000,000);
* ``/metrics`` rendering at 10,000 and 100,000 series vs prometheus_client's exposition
  of the same series (target < 1 s at 100,000).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from kafka import TopicPartition
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.common import (
    BenchResult,
    Check,
    log,
    postgres_admin_url,
    relay_settings,
    render,
    running_broker,
)
from services.metrics.adapters import tables
from services.metrics.adapters.exposition import render_read_model
from services.metrics.bootstrap import bootstrap
from services.metrics.config import MetricsConfig
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
from shared.cloudevents import new_event
from shared.config import AuthSettings, KafkaSettings
from shared.contract import EventType, Topic
from shared.messaging.kafka_clients import ensure_topics, new_consumer, new_producer
from shared.persistence.migrations import upgrade_to_head

AT = "2026-11-02T09:30:00Z"
KEY_RESULTS_PER_OBJECTIVE = 10
OBJECTIVES_PER_TARGET = 100


@dataclass(frozen=True)
class MetricsBenchOptions:
    database: str = "postgresql"
    events: int = 20_000
    rollup_sizes: tuple[int, ...] = (1_000, 100_000, 1_000_000)
    check_ins: int = 2_000
    rss_key_results: int = 1_000_000
    series: tuple[int, ...] = (10_000, 100_000)


# -- databases ---------------------------------------------------------------------------------

@contextlib.contextmanager
def metrics_database(kind: str) -> Iterator[str]:
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

def _goal_events(count: int) -> list[tuple[str, bytes]]:
    """(key, value): a cycle, objectives with one key result each, then check-ins."""
    def event(event_type: EventType, data: dict[str, Any]) -> bytes:
        return new_event(event_type, "/okr/goals", "bench", data).to_json()

    objectives = max(1, count // 100)
    out = [("cycle", event(EventType.CYCLE_CREATED, {
        "key": "2026-Q4", "name": "Q4", "starts_on": "2026-10-01", "ends_on": "2026-12-31",
        "version": 1, "created_at": AT, "updated_at": AT}))]
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


def _plain_consume(kafka: KafkaSettings, expected: int) -> float:
    consumer = new_consumer(kafka, "bench-plain", group_id=None)
    try:
        tps = [TopicPartition(Topic.GOALS.value, p)
               for p in sorted(consumer.partitions_for_topic(Topic.GOALS.value) or set())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        started, count = time.perf_counter(), 0
        while count < expected:
            for messages in consumer.poll(timeout_ms=500, max_records=1000).values():
                count += len(messages)
        return time.perf_counter() - started
    finally:
        consumer.close()


def consumer_throughput(options: MetricsBenchOptions) -> BenchResult:
    events = _goal_events(options.events)
    with running_broker() as kafka, metrics_database(options.database) as url:
        ensure_topics(kafka, "bench-admin")
        producer = new_producer(kafka, "bench-producer", linger_ms=20)
        for key, value in events:
            producer.send(Topic.GOALS.value, key=key.encode(), value=value)
        producer.flush(timeout=60)
        producer.close()
        plain = _plain_consume(kafka, len(events))
        metrics = bootstrap(metrics_config(url, kafka))
        projection = metrics.projection()
        projection.load()
        runner = metrics.consumer(projection)
        stop = threading.Event()
        started = time.perf_counter()
        thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
        thread.start()
        processed = tables.plumbing.processed_events
        while True:
            with metrics.engine.connect() as connection:
                done = connection.execute(select(func.count()).select_from(processed)
                                          ).scalar_one()
            if done >= len(events):
                break
            time.sleep(0.02)
        # the group join (Tansu waits the rebalance timeout) is not the consumer's speed
        elapsed = time.perf_counter() - started
        stop.set()
        thread.join(timeout=30)
        metrics.engine.dispose()
    join = kafka.max_poll_interval_ms / 1000
    platform_rate = len(events) / max(1e-9, elapsed - join)
    plain_rate = len(events) / plain
    ratio = platform_rate / plain_rate
    return BenchResult(
        "metrics consumer throughput", options.database, ["consumer", "events", "events/s"],
        [["plain kafka-python", str(len(events)), f"{plain_rate:,.0f}"],
         ["okr-metrics consume (batch)", str(len(events)), f"{platform_rate:,.0f}"]],
        [Check("throughput ratio", ratio, ">= 0.5", ratio >= 0.5)],
        notes=[f"the group join ({join:.1f} s, Tansu's rebalance wait) is subtracted"])


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

def fill_read_model(url: str, key_results: int) -> None:
    """N key results (10 per objective) written straight into the read model."""
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
                "kind": "department", "departments": "sales", "title": "objective",
                "archived": False, "progress": None, "attainment": None, "confidence": None,
                "status": None, "updated_at": now} for o in range(start, min(objectives,
                                                                             start + 10_000))])
        for start in range(0, key_results, 20_000):
            connection.execute(tables.key_results.insert(), [{
                "id": str(uuid.uuid4()), "version": 2,
                "objective_id": str(uuid.UUID(int=k // KEY_RESULTS_PER_OBJECTIVE)),
                "title": "key result", "measure": "increase", "aggregation": "check_ins",
                "start": 0.0, "target": 100.0, "unit": "EUR", "weight": 1.0,
                "checked_in": float(k % 100), "given_confidence": 0.7,
                "last_checkin_at": 1.8e9, "value": None, "progress": None, "attainment": None,
                "confidence": None} for k in range(start, min(key_results, start + 20_000))])
    metrics.engine.dispose()


LOAD_AND_MEASURE = """
import resource, sys, time
from services.metrics.bootstrap import bootstrap
from bench.metrics import metrics_config
from shared.config import KafkaSettings
metrics = bootstrap(metrics_config(sys.argv[1], KafkaSettings("127.0.0.1:9", 1, 1, 1, 1, 1)))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
projection = metrics.projection()
projection.load()
held = sum(1 for _ in projection.graph.key_results())
print(held, before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      time.perf_counter() - started)
"""


def consumer_memory(options: MetricsBenchOptions) -> BenchResult:
    size = options.rss_key_results
    with metrics_database(options.database) as url:
        started = time.perf_counter()
        fill_read_model(url, size)
        filled = time.perf_counter() - started
        output = subprocess.run([sys.executable, "-c", LOAD_AND_MEASURE, url], check=True,
                                capture_output=True, text=True, timeout=1800).stdout.split()
    held, before_kib, peak_kib, seconds = int(output[0]), int(output[1]), int(output[2]), float(
        output[3])
    peak = peak_kib * 1024
    return BenchResult(
        "metrics consumer memory", options.database,
        ["key results", "peak RSS (MiB)", "RSS before load (MiB)", "bytes/key result",
         "load s"],
        [[f"{held:,}", f"{peak / 2**20:.0f}", f"{before_kib / 1024:.0f}",
          f"{(peak - before_kib * 1024) / max(1, held):.0f}", f"{seconds:.1f}"]],
        [Check("peak RSS (GiB)", peak / 2**30, "< 1", peak < 2**30)],
        notes=[f"read model filled in {filled:.1f} s; loaded by the consumer's bulk path"])


# -- 4. /metrics rendering -------------------------------------------------------------------------

def client_library_exposition(url: str) -> str:
    """The same key-result series through prometheus_client metric objects."""
    metrics = bootstrap(metrics_config(url, KafkaSettings("127.0.0.1:9", 1, 1, 1, 1, 1)))
    k, o = tables.key_results, tables.objectives

    class ReadModel:
        def collect(self) -> Iterator[GaugeMetricFamily]:
            labels = ["key_result_id", "objective_id", "cycle", "department"]
            families = [GaugeMetricFamily(name, "", labels=labels) for name in (
                "okr_key_result_progress_ratio", "okr_key_result_confidence_ratio",
                "okr_key_result_last_checkin_timestamp_seconds")]
            with metrics.engine.connect() as connection:
                for row in connection.execute(select(
                        k.c.id, k.c.objective_id, o.c.cycle, o.c.departments, k.c.progress,
                        k.c.confidence, k.c.last_checkin_at).join(o, o.c.id == k.c.objective_id)):
                    values = [row.id, row.objective_id, row.cycle, row.departments]
                    for family, value in zip(families, (row.progress, row.confidence,
                                                        row.last_checkin_at), strict=True):
                        family.add_metric(values, value)
            yield from families

    registry = CollectorRegistry()
    registry.register(ReadModel())
    text = generate_latest(registry).decode()
    metrics.engine.dispose()
    return text


def _timed(function: Any, *args: Any) -> tuple[float, int, Any]:
    tracemalloc.start()
    started = time.perf_counter()
    result = function(*args)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak, result


def scrape_time(options: MetricsBenchOptions) -> BenchResult:
    rows, checks = [], []
    for series in options.series:
        with metrics_database(options.database) as url:
            fill_read_model(url, series // 3)
            metrics = bootstrap(metrics_config(url, KafkaSettings("127.0.0.1:9", 1, 1, 1, 1, 1)))
            with metrics.engine.begin() as connection:  # figures as the consumer writes them
                connection.execute(tables.key_results.update().values(
                    progress=tables.key_results.c.checked_in / 100.0, confidence=0.7))
            render_read_model(metrics.engine, 10_000_000)  # warm the connection pool
            ours, ours_peak, text = min(
                (_timed(render_read_model, metrics.engine, 10_000_000) for _ in range(3)),
                key=lambda t: t[0])
            library, library_peak, _ = _timed(client_library_exposition, url)
            metrics.engine.dispose()
        lines = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        rows.append([f"{lines:,}", f"{ours:.3f}", f"{ours_peak / 2**20:.0f}",
                     f"{library:.3f}", f"{library_peak / 2**20:.0f}", f"{library / ours:.1f}"])
        checks.append(Check(f"render s at {series:,}", ours, "< 1 at 100,000",
                            series < 100_000 or ours < 1.0))
    return BenchResult(
        "/metrics rendering", options.database,
        ["series", "ours s", "ours peak MiB", "prometheus_client s", "its peak MiB", "speed-up"],
        rows, checks, notes=["peak = tracemalloc peak of Python allocations while rendering"])


# -- command line ----------------------------------------------------------------------------------

BENCHMARKS = ("throughput", "rollup", "memory", "scrape")


def run_metrics_benchmarks(options: MetricsBenchOptions,
                           only: Sequence[str] = BENCHMARKS) -> list[BenchResult]:
    runners = {"throughput": consumer_throughput, "rollup": rollup_scaling,
               "memory": consumer_memory, "scrape": scrape_time}
    results = []
    for name in only:
        log(f"metrics benchmark: {name}")
        results.append(runners[name](options))
        print(render(results[-1]) + "\n", flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics", description=__doc__)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--only", action="append", choices=BENCHMARKS)
    parser.add_argument("--quick", action="store_true", help="small sizes for a fast look")
    args = parser.parse_args(argv)
    options = MetricsBenchOptions(database=args.database)
    if args.quick:
        options = MetricsBenchOptions(database=args.database, events=2_000,
                                      rollup_sizes=(1_000, 10_000), check_ins=500,
                                      rss_key_results=10_000, series=(3_000, 10_000))
    run_metrics_benchmarks(options, args.only or BENCHMARKS)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def metrics_summary(database: str, quick: bool = False) -> BenchResult:
    """Every metrics benchmark (each printed as it finishes), as one result for bench.cli."""
    options = (MetricsBenchOptions(database=database, events=2_000, rollup_sizes=(1_000, 10_000),
                                   check_ins=500, rss_key_results=10_000,
                                   series=(3_000, 10_000))
               if quick else MetricsBenchOptions(database=database))
    results = run_metrics_benchmarks(options)
    return BenchResult("metrics service (summary)", database, ["benchmark", "checks met"],
                       [[r.name, f"{sum(c.met for c in r.checks)}/{len(r.checks)}"]
                        for r in results],
                       [check for r in results for check in r.checks])
