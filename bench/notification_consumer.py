"""The notification worker's consumer against a plain kafka-python consumer (issue 17, point 4).

``python -m bench --only matching`` (or ``python -m bench.notification_consumer``) measures,
in each of ``--rounds`` rounds (5 by default): on a fresh Tansu broker, N status changes of
objectives (``okr.objective.status_changed``, keyed by objective, on ``okr.rollups.v1``)
produced beforehand; then, in alternating order,

* **the worker**: the notifications service's real :class:`ConsumerRunner` and handler
  (read model, matching against 10,000 subscriptions through the index, status watches,
  hourly cap, deliveries and digest items recorded, processed-event ids, offsets
  committed), on a fresh database holding the subscriptions, timed from the partition
  assignment (Tansu's group join is left out) until every event's id is recorded;
* **the baseline**: a plain kafka-python consumer reading the same records of the same
  broker (assign + seek to the beginning, the same ``max_records`` a poll); the median
  of three reads.

The result is the median of the rounds' ratios worker / plain, with their spread and the
load average at each round. Status changes are announced at once (settle 0, as the
handler benchmark in ``bench/notifications.py``): each one is both a digest item and
immediate deliveries, the handler's heaviest event.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from kafka import TopicPartition
from sqlalchemy import func, select

from bench.common import BenchResult, Check, fmt, log, median, ratio, render, running_broker
from bench.notifications import (
    STATUSES,
    _container,
    _status_change,
    _subscriptions,
    notifications_database,
)
from services.notifications.adapters import tables
from services.notifications.adapters.subscriptions import SubscriptionRepository
from services.notifications.bootstrap import Notifications
from shared.config import KafkaSettings
from shared.contract import Topic
from shared.messaging.kafka_clients import new_consumer, new_producer
from shared.persistence.engine import writing

TARGET_RATIO = 0.3
WORKER_POLL_INTERVAL_MS = 6_000
PLAIN_READS = 3
TOPIC = Topic.ROLLUPS.value


@dataclass(frozen=True)
class ConsumerBenchOptions:
    events: int = 3_000
    rounds: int = 5
    subscriptions: int = 10_000
    objectives: int = 2_000
    max_records: int = 500  # the worker's default OKR_NOTIFICATIONS_CONSUMER_MAX_RECORDS
    hourly_cap: int = 10  # the platform's default OKR_NOTIFICATIONS_HOURLY_CAP
    timeout_seconds: float = 300.0


@dataclass(frozen=True)
class Round:
    worker: float  # events/s
    plain: float
    load: float  # 1-minute load average when the round began
    deliveries: int
    digest_items: int

    @property
    def ratio(self) -> float:
        return ratio(self.worker, self.plain)


def _produce(kafka: KafkaSettings, objectives: Sequence[str], count: int,
             rng: random.Random) -> None:
    producer = new_producer(kafka, "bench-producer", linger_ms=20)
    try:
        for _ in range(count):
            objective = rng.choice(objectives)
            event = _status_change(objective, rng.choice(STATUSES))
            producer.send(TOPIC, key=objective.encode(), value=event.to_json())
        producer.flush(timeout=60)
    finally:
        producer.close()


def plain_consumer_rate(kafka: KafkaSettings, expected: int, max_records: int,
                        timeout: float) -> float:
    """Events/s of a plain consumer reading the ``expected`` records of the topic: the
    median of :data:`PLAIN_READS` reads (one read takes a few milliseconds, so one alone
    is mostly noise)."""
    return median([_plain_read(kafka, expected, max_records, timeout)
                   for _ in range(PLAIN_READS)])


def _plain_read(kafka: KafkaSettings, expected: int, max_records: int,
                timeout: float) -> float:
    consumer = new_consumer(kafka, "bench-plain", group_id=None)
    try:
        tps = [TopicPartition(TOPIC, p) for p in sorted(consumer.partitions_for_topic(TOPIC)
                                                        or set())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        started, count = time.perf_counter(), 0
        while count < expected:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"the plain consumer read {count} of {expected}")
            for records in consumer.poll(timeout_ms=500, max_records=max_records).values():
                count += len(records)
        return expected / (time.perf_counter() - started)
    finally:
        consumer.close()


def _applied(container: Notifications) -> int:
    with container.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(
            tables.plumbing.processed_events)).scalar_one())


def worker_rate(container: Notifications, expected: int, timeout: float) -> float:
    """Events/s of the notification worker's consumer, from its partition assignment until
    every one of ``expected`` events is recorded as applied. The handler has read the
    subscriptions before (the index a running worker keeps)."""
    handler = container.handler()
    with container.reading() as uow:
        handler.dispatcher.index(uow.subscriptions)
    runner = container.consumer(handler)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), name="bench-worker",
                              daemon=True)
    thread.start()
    try:
        joined = time.perf_counter()
        while runner.consumer is None or not runner.consumer.assignment():
            if time.perf_counter() - joined > 60 or not thread.is_alive():
                raise TimeoutError("the worker never joined its group")
            time.sleep(0.005)
        started = time.perf_counter()
        while (done := _applied(container)) < expected:
            if time.perf_counter() - started > timeout or not thread.is_alive():
                raise TimeoutError(f"the worker applied {done} of {expected} events")
            time.sleep(0.02)
        return expected / (time.perf_counter() - started)
    finally:
        stop.set()
        thread.join(timeout=30)


def _count(container: Notifications, table: object) -> int:
    with container.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def one_round(database: str, options: ConsumerBenchOptions, number: int,
              rng: random.Random) -> Round:
    load = os.getloadavg()[0]
    objectives = [str(uuid.uuid4()) for _ in range(options.objectives)]
    subscriptions = _subscriptions(options.subscriptions, objectives, rng)
    with running_broker() as kafka, notifications_database(database) as url:
        container = _container(url, 1, hourly_cap=options.hourly_cap)
        # a batch may take seconds on a loaded machine: a longer poll interval than the
        # broker fixture's keeps the worker in its group (it costs a longer first join)
        container = replace(container, config=replace(
            container.config, consumer_max_records=options.max_records,
            kafka=replace(kafka, max_poll_interval_ms=WORKER_POLL_INTERVAL_MS)))
        try:
            with writing(container.engine).begin() as connection:
                SubscriptionRepository(connection).add_many(subscriptions)
            _produce(kafka, objectives, options.events, rng)
            if number % 2:
                plain = plain_consumer_rate(kafka, options.events, options.max_records,
                                            options.timeout_seconds)
                worker = worker_rate(container, options.events, options.timeout_seconds)
            else:
                worker = worker_rate(container, options.events, options.timeout_seconds)
                plain = plain_consumer_rate(kafka, options.events, options.max_records,
                                            options.timeout_seconds)
            applied = _applied(container)
            if applied != options.events:
                raise AssertionError(f"{applied} events applied, {options.events} sent")
            return Round(worker=worker, plain=plain, load=load,
                         deliveries=_count(container, tables.deliveries),
                         digest_items=_count(container, tables.digest_items))
        finally:
            container.engine.dispose()


def run_consumer_ratio(database: str, options: ConsumerBenchOptions) -> BenchResult:
    rng = random.Random(17)
    rounds: list[Round] = []
    log(f"notification consumer[{database}]: {options.events:,} status changes x "
        f"{options.rounds} rounds, {options.subscriptions:,} subscriptions")
    for number in range(1, options.rounds + 1):
        rounds.append(one_round(database, options, number, rng))
        last = rounds[-1]
        log(f"  round {number}: worker {last.worker:,.0f}/s, plain {last.plain:,.0f}/s, "
            f"ratio {last.ratio:.3f}, load average {last.load:.1f}")
    ratios = [r.ratio for r in rounds]
    result = median(ratios)
    rows = [[str(i), fmt(r.worker, 0), fmt(r.plain, 0), fmt(r.ratio, 3), fmt(r.load, 1)]
            for i, r in enumerate(rounds, start=1)]
    rows.append(["median", fmt(median([r.worker for r in rounds]), 0),
                 fmt(median([r.plain for r in rounds]), 0), fmt(result, 3), ""])
    deliveries = sum(r.deliveries for r in rounds) / (options.events * len(rounds))
    digest_items = sum(r.digest_items for r in rounds) / (options.events * len(rounds))
    return BenchResult(
        name=f"notification worker against a plain consumer, {options.subscriptions:,} "
             "subscriptions", database=database,
        headers=["round", "worker events/s", "plain consumer events/s", "ratio",
                 "load average"], rows=rows,
        checks=[Check("median ratio worker/plain", result, f">= {TARGET_RATIO}",
                      result >= TARGET_RATIO)],
        details={"ratios": ratios, "spread": [min(ratios), max(ratios)],
                 "worker_per_second": [r.worker for r in rounds],
                 "plain_per_second": [r.plain for r in rounds],
                 "load_averages": [r.load for r in rounds], "events": options.events,
                 "max_records": options.max_records, "deliveries_per_event": deliveries,
                 "digest_items_per_event": digest_items},
        notes=[f"spread {min(ratios):.3f}-{max(ratios):.3f} over {len(rounds)} rounds, "
               "sides alternating; the worker timed from its partition assignment",
               f"{options.events:,} status changes a round, max_records "
               f"{options.max_records} on both sides; per event {deliveries:.2f} immediate "
               f"deliveries and {digest_items:.2f} digest items recorded (hourly cap "
               f"{options.hourly_cap}, settle 0)"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notification_consumer")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--events", type=int, default=ConsumerBenchOptions.events)
    parser.add_argument("--rounds", type=int, default=ConsumerBenchOptions.rounds)
    parser.add_argument("--max-records", type=int, default=ConsumerBenchOptions.max_records)
    args = parser.parse_args(argv)
    options = ConsumerBenchOptions(events=args.events, rounds=args.rounds,
                                   max_records=args.max_records)
    print(render(run_consumer_ratio(args.database, options)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
