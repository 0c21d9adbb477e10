"""Notification benchmarks: webhook delivery throughput and matching against many subscriptions.

``python -m bench --only webhooks --only matching`` (or ``python -m bench.notifications``)
measures, in one run:

1. **webhooks**: deliveries per second that the delivery loop makes to a local HTTP
   receiver (claim under a lease, sign, POST, record the outcome and its event in the
   outbox), against a plain loop of HTTP POSTs of the same bodies to the same receiver
   with one keep-alive ``requests`` session. Rounds alternate which side goes first; the
   result is the median ratio loop / plain (target >= 0.5).
2. **matching**: notices per second matched against 10,000 subscriptions through the
   index, against a scan that tests every subscription's filters; and events per second
   through the consumer's handler (read model, matching, throttling, deliveries recorded)
   on the database with those 10,000 subscriptions.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import requests
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.common import BenchResult, Check, fmt, log, median, postgres_admin_url, ratio, render
from services.notifications.adapters import tables
from services.notifications.adapters.subscriptions import SubscriptionRepository
from services.notifications.bootstrap import Notifications, bootstrap
from services.notifications.config import NotificationsConfig
from services.notifications.domain.matching import SubscriptionIndex, matches
from services.notifications.domain.messages import Message
from services.notifications.domain.notices import Notice
from services.notifications.domain.subscriptions import (
    Channel,
    DeliveryMode,
    Filters,
    Subscription,
)
from services.notifications.entrypoints.cli import MIGRATIONS
from shared.cloudevents import new_event
from shared.contract import EventType
from shared.persistence.engine import writing
from shared.persistence.migrations import upgrade_to_head

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # base64 of 24 bytes
DEPARTMENTS = [f"dept-{i}" for i in range(40)]
STATUSES = ["on_track", "at_risk", "off_track"]
TYPES = [EventType.OBJECTIVE_STATUS_CHANGED.value, EventType.KEY_RESULT_CHECKED_IN.value,
         EventType.ROLLUP_CHANGED.value]


@dataclass(frozen=True)
class NotificationBenchOptions:
    deliveries: int = 1000
    rounds: int = 3
    concurrency: int = 8
    subscriptions: int = 10_000
    notices: int = 20_000
    scanned_notices: int = 200
    handled_events: int = 300
    consumer_batch: int = 500     # events a transaction, as OKR_NOTIFICATIONS_CONSUMER_MAX_RECORDS


# -- a database and a receiver ---------------------------------------------------------------

@contextlib.contextmanager
def notifications_database(kind: str) -> Iterator[str]:
    """A migrated notifications database of ``kind`` (postgresql or sqlite), dropped after."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="okr-bench-notifications-") as directory:
            url = f"sqlite:///{Path(directory) / 'notifications.db'}"
            upgrade_to_head(MIGRATIONS, url)
            yield url
        return
    admin = postgres_admin_url()
    name = f"okr_bench_notifications_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        upgrade_to_head(MIGRATIONS, url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _ReceiverServer(ThreadingHTTPServer):
    """Answers every POST with 204; with ``record``, first appends a line
    ``<time.monotonic()> <body>`` to that file (the clock every process shares on Linux)."""

    daemon_threads = True

    def __init__(self, record: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _Receiver)
        self.lock = threading.Lock()
        self.record = None if record is None else open(record, "a", buffering=1)  # noqa: SIM115


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, for both sides
    server: _ReceiverServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.server.record is not None:
            line = f"{time.monotonic():.6f} {body.decode(errors='replace')}\n"
            with self.server.lock:
                self.server.record.write(line)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def _serve(port_out: Any, record: str | None) -> None:
    server = _ReceiverServer(record)
    port_out.send(server.server_port)
    server.serve_forever()


@dataclass(frozen=True)
class Receiver:
    url: str
    pid: int


@contextlib.contextmanager
def local_receiver(record: Path | None = None) -> Iterator[Receiver]:
    """The receiver in a process of its own, so it does not share the senders' GIL; with
    ``record``, every body it receives is written to that file with the time it came."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(child, None if record is None else str(record)), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the receiver did not start")
        assert process.pid is not None
        yield Receiver(f"http://127.0.0.1:{parent.recv()}/hook", process.pid)
    finally:
        process.terminate()
        process.join(timeout=10)


def _container(url: str, concurrency: int, hourly_cap: int = 1_000_000) -> Notifications:
    config = NotificationsConfig.from_env({
        "OKR_NOTIFICATIONS_DATABASE_URL": url, "OKR_NOTIFICATIONS_ALLOW_LOOPBACK_TARGETS": "1",
        "OKR_NOTIFICATIONS_CONCURRENCY": str(concurrency), "OKR_NOTIFICATIONS_BATCH_SIZE": "100",
        "OKR_NOTIFICATIONS_POLL_SECONDS": "0.05",
        # status changes sent as soon as they are handled (no settle wait), as before it
        "OKR_NOTIFICATIONS_SETTLE_SECONDS": "0",
        "OKR_NOTIFICATIONS_HOURLY_CAP": str(hourly_cap), "OKR_DATA_DIR": tempfile.gettempdir()})
    return bootstrap(config)


def _status_change(objective_id: str, status: str) -> Any:
    return new_event(EventType.OBJECTIVE_STATUS_CHANGED, "/okr/metrics",
                     f"objective/{objective_id}", {
                         "objective_id": objective_id, "title": f"Target {objective_id[:8]}",
                         "cycle": "2026-Q4", "kind": "collective",
                         "departments": ["marketing", "sales"], "progress": 0.4,
                         "attainment": 0.4, "expected_progress": 0.5, "status": status,
                         "confidence": 0.6, "changed_at": "2026-11-27T04:00:00Z",
                         "cause_event_id": str(uuid.uuid4()), "previous_status": "on_track"})


# -- 1. webhooks -----------------------------------------------------------------------------

def _plain_loop(url: str, bodies: Sequence[bytes]) -> float:
    session = requests.Session()
    started = time.perf_counter()
    for body in bodies:
        response = session.post(url, data=body, timeout=5,
                                headers={"Content-Type": "application/json"})
        if response.status_code != 204:
            raise RuntimeError(f"receiver answered {response.status_code}")
    elapsed = time.perf_counter() - started
    session.close()
    return len(bodies) / elapsed


def _delivery_loop(container: Notifications, url: str, count: int) -> float:
    with writing(container.engine).begin() as connection:
        subscription = Subscription.new(
            recipient="bench", department="sales", channel=Channel.WEBHOOK, target=url,
            secret=SECRET, filters=Filters(), mode=DeliveryMode.IMMEDIATE,
            digest_interval_seconds=3600, created_by="bench", now=datetime.now(UTC))
        SubscriptionRepository(connection).add(subscription)
    handler = container.handler(hourly_cap=10**9)
    with writing(container.engine).begin() as connection:
        for _ in range(count):
            handler(_status_change(str(uuid.uuid4()), "off_track"), connection)
    loop = container.delivery_loop()
    stop = threading.Event()
    started = time.perf_counter()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    while _delivered(container) < count:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"only {_delivered(container)} of {count} delivered")
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join(timeout=30)
    return count / elapsed


def _delivered(container: Notifications) -> int:
    with container.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(tables.deliveries).where(
            tables.deliveries.c.status == "delivered")).scalar_one())


def run_webhooks(database: str, options: NotificationBenchOptions) -> BenchResult:
    rows, ratios = [], []
    body = Message("okr.objective.status_changed",
                   Notice.from_dict({"event_id": "e", "event_type": TYPES[0],
                                     "objective_id": "o", "title": "Target", "kind": "collective",
                                     "departments": ["sales"], "summary": "now off_track",
                                     "occurred_at": "2026-11-27T04:00:00Z"}).to_dict()
                   ).webhook_body(datetime.now(UTC))
    with local_receiver() as receiver:
        url = receiver.url
        for round_number in range(options.rounds):
            with notifications_database(database) as database_url:
                container = _container(database_url, options.concurrency)
                try:
                    if round_number % 2 == 0:
                        plain = _plain_loop(url, [body] * options.deliveries)
                        platform = _delivery_loop(container, url, options.deliveries)
                    else:
                        platform = _delivery_loop(container, url, options.deliveries)
                        plain = _plain_loop(url, [body] * options.deliveries)
                finally:
                    container.engine.dispose()
            ratios.append(ratio(platform, plain))
            log(f"webhooks round {round_number + 1}: loop {platform:,.0f}/s, "
                f"plain {plain:,.0f}/s")
            rows.append([str(round_number + 1), fmt(platform), fmt(plain), fmt(ratios[-1], 2)])
    result = median(ratios)
    return BenchResult(
        name="webhook deliveries", database=database,
        headers=["round", "delivery loop /s", "plain POST loop /s", "ratio"], rows=rows,
        checks=[Check("median ratio", result, ">= 0.5", result >= 0.5)],
        details={"ratios": ratios, "deliveries": options.deliveries,
                 "concurrency": options.concurrency},
        notes=[f"{options.deliveries} deliveries per round, {options.concurrency} sending "
               "threads; the plain loop is one keep-alive session, one POST after another"])


# -- 2. matching -----------------------------------------------------------------------------

def _subscriptions(count: int, objectives: Sequence[str], rng: random.Random, *,
                   target: str = "https://hooks.example.org/x",
                   immediate: float = 1.0) -> list[Subscription]:
    """Mostly specific subscriptions, as people make them: 5 % follow the default rules of
    their department; the others name one or two objectives (80 %), or a department with
    the statuses or event types they care about (20 %). Webhooks to ``target``; the share
    ``immediate`` of them immediate, the others digests."""
    now = datetime.now(UTC)
    made = []
    for i in range(count):
        if i % 20 == 0:
            filters = Filters()
        elif rng.random() < 0.8:
            filters = Filters(objectives=frozenset(rng.sample(list(objectives), rng.randint(1, 2))),
                              statuses=frozenset(rng.sample(STATUSES, rng.randint(0, 2))))
        else:
            filters = Filters(departments=frozenset([rng.choice(DEPARTMENTS)]),
                              event_types=frozenset(rng.sample(TYPES, rng.randint(1, 2))),
                              statuses=frozenset(rng.sample(STATUSES, rng.randint(0, 2))))
        made.append(Subscription(
            id=str(uuid.uuid4()), recipient=f"r{i % 2000}", department=rng.choice(DEPARTMENTS),
            channel=Channel.WEBHOOK, target=target, secret=SECRET, filters=filters,
            mode=(DeliveryMode.IMMEDIATE if immediate >= 1.0 or rng.random() < immediate
                  else DeliveryMode.DIGEST), digest_interval_seconds=3600,
            created_by="bench", created_at=now, updated_at=now))
    return made


def _notices(count: int, objectives: Sequence[str], rng: random.Random) -> list[Notice]:
    now = datetime.now(UTC)
    return [Notice(event_id=str(i), event_type=rng.choice(TYPES),
                   objective_id=rng.choice(objectives), title="t",
                   kind=rng.choice(["collective", "department"]),
                   departments=tuple(rng.sample(DEPARTMENTS, rng.randint(1, 2))),
                   occurred_at=now, summary="s", status=rng.choice(STATUSES),
                   previous_status=rng.choice(STATUSES),
                   dependent_departments=frozenset(rng.sample(DEPARTMENTS, rng.randint(0, 2))))
            for i in range(count)]


def run_matching(database: str, options: NotificationBenchOptions) -> BenchResult:
    rng = random.Random(42)
    objectives = [str(uuid.uuid4()) for _ in range(2000)]
    subscriptions = _subscriptions(options.subscriptions, objectives, rng)
    notices = _notices(options.notices, objectives, rng)
    index = SubscriptionIndex(subscriptions)
    started = time.perf_counter()
    matched = sum(len(index.match(notice)) for notice in notices)
    indexed = len(notices) / (time.perf_counter() - started)
    explicit = [s for s in subscriptions if not s.follows_defaults]
    scanned_notices = notices[:options.scanned_notices]
    started = time.perf_counter()
    scan_results = [{s.id for s in explicit if matches(s.filters, notice)}
                    for notice in scanned_notices]
    scanned = len(scanned_notices) / (time.perf_counter() - started)
    for notice, expected in zip(scanned_notices, scan_results, strict=True):
        if {s.id for s in index.match(notice) if not s.follows_defaults} != expected:
            raise RuntimeError(f"the index and the scan disagree on notice {notice.event_id}")

    with notifications_database(database) as url:
        container = _container(url, 1, hourly_cap=10)
        try:
            with writing(container.engine).begin() as connection:
                SubscriptionRepository(connection).add_many(subscriptions)
            handler = container.handler(hourly_cap=10)
            events = [_status_change(rng.choice(objectives), rng.choice(STATUSES))
                      for _ in range(options.handled_events)]
            with writing(container.engine).begin() as connection:  # index built, warm
                handler(events[0], connection)
            started = time.perf_counter()
            for event in events[1:]:
                with writing(container.engine).begin() as connection:
                    handler(event, connection)
            handled = (len(events) - 1) / (time.perf_counter() - started)
            # as the worker applies a polled batch: one transaction for many events
            batched_events = [_status_change(rng.choice(objectives), rng.choice(STATUSES))
                              for _ in range(options.handled_events)]
            size = options.consumer_batch
            started = time.perf_counter()
            for first in range(0, len(batched_events), size):
                with writing(container.engine).begin() as connection:
                    handler.handle_batch(batched_events[first:first + size], connection)
            batched = len(batched_events) / (time.perf_counter() - started)
        finally:
            container.engine.dispose()
    speedup = ratio(indexed, scanned)
    log(f"matching: index {indexed:,.0f}/s, scan {scanned:,.0f}/s, handler {handled:,.0f}/s, "
        f"batched handler {batched:,.0f}/s")
    return BenchResult(
        name=f"matching against {options.subscriptions:,} subscriptions", database=database,
        headers=["path", "events /s"],
        rows=[["index (in memory)", fmt(indexed)], ["scan of every filter", fmt(scanned)],
              ["consumer handler (database), one event a transaction", fmt(handled)],
              [f"consumer handler (database), {options.consumer_batch} events a transaction",
               fmt(batched)]],
        checks=[Check("index / scan", speedup, "> 1", speedup > 1)],
        details={"indexed_per_second": indexed, "scanned_per_second": scanned,
                 "handled_per_second": handled, "batched_per_second": batched,
                 "consumer_batch": options.consumer_batch, "matches": matched,
                 "mean_matches": matched / len(notices)},
        notes=[f"{matched / len(notices):.1f} subscriptions matched per notice on average; "
               "the handler also keeps the read model and records each delivery"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notifications")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    options = NotificationBenchOptions(deliveries=300, rounds=2) if args.quick \
        else NotificationBenchOptions()
    for result in (run_webhooks(args.database, options), run_matching(args.database, options)):
        print(render(result) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
