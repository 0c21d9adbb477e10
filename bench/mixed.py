"""``python -m bench mixed``: the platform as deployed under sustained mixed load (issue 17,
points 2 and 8).

Every part runs as a process of its own, as deployed: the goals API under gunicorn
(``--goals-workers`` processes), ``okr-goals relay``, ``okr-metrics consume`` (and, with
``--standby-metrics``, a second one waiting on its lease in the same group), the metrics API
under gunicorn, ``--notification-workers`` ``okr-notifications worker`` processes (one
consumer group; each runs the delivery loop too), a local webhook receiver process, a Tansu
broker and PostgreSQL. The goals database holds ``--key-results`` key results (ten an
objective) plus ``--probes`` objectives of one key result each; the notifications database
``--subscriptions`` webhook subscriptions to the receiver (as ``bench/notifications.py``
makes them, a fifth immediate, the rest digests) plus one immediate subscription to each
probe's status changes.

For ``--duration`` seconds, after every seeded event has gone through: ``--rate`` check-ins
a second through ``POST /v1/key-results/{id}/check-ins`` (open loop, half the key results),
a batch of ``--batch-size`` check-ins every ``--batch-every`` seconds through
``POST /v1/check-ins/batch`` (1,000 items a request, the route's limit, one request after
another; the other half), and every ``--probe-every`` seconds a check-in that turns a
probe's objective ``on_track`` or ``off_track``. Measured:

* a check-in's 201 until the scraped ``/metrics`` of the metrics API shows it (p50/p99);
  the same for batch items from their request's answer;
* a probe's 201 until the receiver gets the webhook of that status change (settle time 0
  and no hourly cap, so it goes out at once);
* baseline of the same run: the relay hop, 201 until a plain consumer of okr.goals.v1
  receives the check-in;
* each consumer group's lag every second, from the broker's offsets, and after each batch
  the seconds until it is back to its level before the batch, and to 0;
* the RSS of every process every ``--memory-every`` seconds: start, end, peak, slope;
* the achieved request rate, the API's answer times and every error.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.common import (
    BenchResult,
    Check,
    fmt,
    free_port,
    goals_database,
    kafka_environment,
    load_average,
    log,
    open_engine,
    percentile,
    postgres_reachable,
    render,
    running_broker,
    wait_until_published,
    worker_process,
    write_results,
)
from bench.goals_seed import seed_key_results
from bench.http_load import GOALS_WSGI, HttpClient, Server, gunicorn, workers_of
from bench.latency import paced
from bench.metrics import LATENCY_TARGET, Scrapes, metrics_database
from bench.notifications import (
    SECRET,
    _subscriptions,
    local_receiver,
    notifications_database,
)
from bench.sampling import GroupLag, Memory, Tail, broker_pid
from services.goals.adapters import tables as goals_tables
from services.goals.bootstrap import bootstrap as goals_bootstrap
from services.goals.config import GoalsConfig
from services.goals.service_layer.reference_data import seed_default_departments
from services.metrics.config import CONSUMER_GROUP as METRICS_GROUP
from services.notifications.adapters.subscriptions import SubscriptionRepository
from services.notifications.config import CONSUMER_GROUP as NOTIFICATIONS_GROUP
from services.notifications.domain.subscriptions import (
    Channel,
    DeliveryMode,
    Filters,
    Subscription,
)
from shared.config import KafkaSettings
from shared.contract import EventType, Topic
from shared.persistence.engine import writing

ADMIN_TOKEN = "bench-mixed-admin-token-0123456789"
BATCH_LIMIT = 1_000  # items a POST /v1/check-ins/batch takes
STATUS_CHANGED = EventType.OBJECTIVE_STATUS_CHANGED.value
GROUPS = {METRICS_GROUP: (Topic.GOALS.value,),
          NOTIFICATIONS_GROUP: (Topic.GOALS.value, Topic.ROLLUPS.value)}
VISIBLE_TARGET_S, WEBHOOK_TARGET_S, RECOVERY_TARGET_S = 1.0, 2.0, 10.0
FLAT_TARGET_MIB_PER_MINUTE = 1.0


@dataclass(frozen=True)
class MixedOptions:
    database: str = "postgresql"
    key_results: int = 10_000
    subscriptions: int = 10_000
    rate: float = 200.0
    batch_size: int = 5_000
    batch_every: float = 60.0
    duration: float = 600.0
    goals_workers: int = 2
    goals_threads: int = 4
    posting_threads: int = 16
    notification_workers: int = 1
    standby_metrics: bool = False
    probes: int = 20
    probe_every: float = 1.0
    memory_every: float = 5.0
    drain: float = 60.0  # after the load, how long to wait for what is still on its way
    #: the platform's consumers' OKR_KAFKA_MAX_POLL_INTERVAL_MS: the other benchmarks' 2 s
    #: (Tansu makes every group join wait that long) has a loaded worker's batch of 100
    #: overrun it and leave the group; so joins take this long here, once
    max_poll_interval_ms: int = 30_000
    warmup_timeout: float = 1_800.0


@dataclass
class Probe:
    objective_id: str
    status: str
    sent_at: float
    accepted_at: float


@dataclass
class Batch:
    sent_at: float
    answered_at: float
    applied: int


@dataclass
class Load:
    """What the load sent: for each value (unique), its key result's index and its 201."""

    singles: dict[int, tuple[int, float]] = field(default_factory=dict)
    batched: dict[int, tuple[int, float]] = field(default_factory=dict)
    answer_seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    behind_ms: float = 0.0


# -- the platform --------------------------------------------------------------------------

@dataclass
class Platform:
    goals: Server
    metrics_api: Server
    key_results: list[str]  # the load's
    probes: list[tuple[str, str]]  # (key result, objective) of each probe
    processes: dict[str, int]  # name -> pid, for the memory samples
    logs: dict[str, Path]  # name -> log of the platform's workers
    receiver_log: Path
    kafka: KafkaSettings


def _objectives_of(url: str, key_results: Sequence[str]) -> list[str]:
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            table = goals_tables.key_results
            owner = dict(connection.execute(select(table.c.id, table.c.objective_id)).all())
    finally:
        engine.dispose()
    return [owner[key_result] for key_result in key_results]


def _seed_goals(env: dict[str, str], options: MixedOptions) -> tuple[list[str], list[str]]:
    goals = goals_bootstrap(GoalsConfig.from_env(env))
    try:
        seed_default_departments(goals.unit_of_work())
        started = time.monotonic()
        load = seed_key_results(goals.unit_of_work, options.key_results,
                                target=LATENCY_TARGET)
        probes = [seed_key_results(goals.unit_of_work, 1, target=LATENCY_TARGET)[0]
                  for _ in range(options.probes)]
        log(f"{len(load):,} key results and {len(probes)} probes written in "
            f"{time.monotonic() - started:.1f} s")
        return load, probes
    finally:
        goals.close()


def _store_subscriptions(url: str, objectives: Sequence[str], probes: Sequence[str],
                         receiver: str, count: int) -> None:
    made = _subscriptions(max(0, count - len(probes)), sorted(set(objectives)),
                          random.Random(17), target=receiver, immediate=0.2)
    now = datetime.now(UTC)
    for number, objective in enumerate(probes):
        made.append(Subscription.new(
            recipient=f"probe-{number}", department=None, channel=Channel.WEBHOOK,
            target=receiver, secret=SECRET,
            filters=Filters(objectives=frozenset([objective]),
                            event_types=frozenset([STATUS_CHANGED])),
            mode=DeliveryMode.IMMEDIATE, digest_interval_seconds=3600, created_by="bench",
            now=now))
    engine = open_engine(url)
    try:
        with writing(engine).begin() as connection:
            SubscriptionRepository(connection).add_many(made)
    finally:
        engine.dispose()


@contextlib.contextmanager
def running(options: MixedOptions) -> Iterator[Platform]:
    """Databases, broker, seeded goals and subscriptions, and every process started."""
    with contextlib.ExitStack() as stack:
        kafka = stack.enter_context(running_broker())
        goals_url = stack.enter_context(goals_database(options.database, "mixed"))
        metrics_url = stack.enter_context(metrics_database(options.database))
        notifications_url = stack.enter_context(notifications_database(options.database))
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="okr-mixed-")))
        receiver_log = scratch / "webhooks.log"
        receiver = stack.enter_context(local_receiver(receiver_log))
        common = {**kafka_environment(kafka),
                  "OKR_KAFKA_MAX_POLL_INTERVAL_MS": str(options.max_poll_interval_ms)}
        goals_env = {**common, "OKR_GOALS_DATABASE_URL": goals_url,
                     "OKR_ADMIN_TOKEN": ADMIN_TOKEN,
                     "OKR_GOALS_WORKER_METRICS_PORT": str(free_port())}
        load, probe_krs = _seed_goals(goals_env, options)
        objectives = _objectives_of(goals_url, load + probe_krs)
        probe_objectives = objectives[len(load):]
        _store_subscriptions(notifications_url, objectives[:len(load)], probe_objectives,
                             receiver.url, options.subscriptions)
        processes: dict[str, int] = {"this benchmark": os.getpid(),
                                     "webhook receiver": receiver.pid}
        logs: dict[str, Path] = {}
        pid = broker_pid()
        if pid is not None:
            processes["Tansu broker"] = pid

        def start(name: str, command: list[str], env: dict[str, str]) -> None:
            directory = scratch / name.replace(" ", "-")
            directory.mkdir()
            processes[name] = stack.enter_context(worker_process(command, env, directory)).pid
            logs[name] = directory / f"{command[0]}-{command[1]}.log"  # as worker_process

        start("goals relay", ["okr-goals", "relay"], goals_env)
        started = time.monotonic()
        wait_until_published(goals_url, timeout=options.warmup_timeout)
        log(f"the relay published the seeded events in {time.monotonic() - started:.1f} s")
        metrics_env = {**common, "OKR_METRICS_DATABASE_URL": metrics_url}
        start("metrics consume", ["okr-metrics", "consume"],
              {**metrics_env, "OKR_METRICS_WORKER_METRICS_PORT": str(free_port())})
        if options.standby_metrics:
            time.sleep(2)  # the first takes the lease, the second stands by
            start("metrics consume (standby)", ["okr-metrics", "consume"],
                  {**metrics_env, "OKR_METRICS_WORKER_METRICS_PORT": str(free_port())})
        notifications_env = {**common, "OKR_NOTIFICATIONS_DATABASE_URL": notifications_url,
                             "OKR_NOTIFICATIONS_ALLOW_LOOPBACK_TARGETS": "1",
                             "OKR_NOTIFICATIONS_SETTLE_SECONDS": "0",
                             "OKR_NOTIFICATIONS_HOURLY_CAP": "1000000"}
        for number in range(options.notification_workers):
            start(f"notifications worker {number + 1}", ["okr-notifications", "worker"],
                  {**notifications_env,
                   "OKR_NOTIFICATIONS_WORKER_METRICS_PORT": str(free_port())})
        metrics_api = stack.enter_context(gunicorn(
            "services.metrics.entrypoints.wsgi:app",
            {**metrics_env, "OKR_METRICS_WORKER_METRICS_PORT": str(free_port())},
            workers=1, threads=4))
        goals = stack.enter_context(gunicorn(GOALS_WSGI, goals_env,
                                             workers=options.goals_workers,
                                             threads=options.goals_threads))
        for name, server in (("goals API", goals), ("metrics API", metrics_api)):
            processes[f"{name} master"] = server.process.pid
            for number, worker in enumerate(workers_of(server)):
                processes[f"{name} worker {number + 1}"] = worker
        yield Platform(goals, metrics_api, load,
                       list(zip(probe_krs, probe_objectives, strict=True)), processes, logs,
                       receiver_log, kafka)


# -- the webhooks the receiver got -----------------------------------------------------------

def received_status_changes(path: Path) -> list[tuple[float, str, str]]:
    """(when, objective, status) of every status-change webhook in the receiver's file."""
    found = []
    with contextlib.suppress(FileNotFoundError), path.open() as lines:
        for line in lines:
            at, _, body = line.partition(" ")
            try:
                document = json.loads(body)
            except ValueError:
                continue
            data = document.get("data") or {}
            if document.get("type") == STATUS_CHANGED and "objective_id" in data:
                found.append((float(at), data["objective_id"], str(data.get("status"))))
    return found


POLL_TIMEOUT = "Consumer poll timeout has expired"  # kafka-python's words: it left the group


def poll_timeouts(logs: dict[str, Path]) -> dict[str, int]:
    """How often each worker overran ``max_poll_interval_ms`` and left its group."""
    counted = {}
    for name, path in logs.items():
        with contextlib.suppress(FileNotFoundError):
            counted[name] = path.read_text(errors="replace").count(POLL_TIMEOUT)
    return counted


def webhook_seconds(probes: Sequence[Probe], received: Sequence[tuple[float, str, str]]
                    ) -> tuple[list[float], int]:
    """For each probe, seconds from its 201 to the first webhook of its objective's new
    status that came after it was sent; and how many probes never got one."""
    latencies, missing = [], 0
    for probe in probes:
        came = next((at for at, objective, status in received
                     if objective == probe.objective_id and status == probe.status
                     and at >= probe.sent_at), None)
        if came is None:
            missing += 1
        else:
            latencies.append(came - probe.accepted_at)
    return latencies, missing


# -- the load --------------------------------------------------------------------------------

class Poster:
    """One keep-alive connection to the goals API per thread, and one counter of values:
    every check-in gets a value of its own, larger than every earlier one, so a scraped
    value shows which check-ins of that key result are visible."""

    def __init__(self, goals: Server) -> None:
        self.goals = goals
        self._local = threading.local()
        self._values = itertools.count(1)
        self._lock = threading.Lock()

    def value(self) -> int:
        with self._lock:
            return next(self._values)

    def request(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = HttpClient(
                self.goals.host, self.goals.port, {"Authorization": f"Bearer {ADMIN_TOKEN}"})
        reply = client.request(method, path, body)
        return reply.status, (reply.json() if reply.body else None)


def _check_in(poster: Poster, key_result: str, value: float, confidence: float = 0.7
              ) -> tuple[int, Any]:
    return poster.request("POST", f"/v1/key-results/{key_result}/check-ins",
                          {"value": value, "confidence": confidence})


def post_singles(poster: Poster, key_results: Sequence[str], options: MixedOptions,
                 load: Load) -> None:
    """``options.rate`` check-ins a second for ``options.duration`` seconds (open loop)."""
    lock = threading.Lock()

    def one(index: int) -> str:
        value, key_result = poster.value(), index % len(key_results)
        sent = time.monotonic()
        try:
            status, body = _check_in(poster, key_results[key_result], value)
        except OSError as error:
            status, body = 0, repr(error)
        answered = time.monotonic()
        with lock:
            load.answer_seconds.append(answered - sent)
            if status == 201:
                load.singles[value] = (key_result, answered)
            elif len(load.errors) < 1_000:
                load.errors.append(f"check-in {status}: {str(body)[:200]}")
        return str(value)

    count = max(1, round(options.rate * options.duration))
    _, load.behind_ms = paced(count, options.rate, one, workers=options.posting_threads)


def post_batches(poster: Poster, key_results: Sequence[str], offset: int,
                 options: MixedOptions, load: Load, stop: threading.Event) -> None:
    """A batch of ``options.batch_size`` every ``options.batch_every`` seconds, the first
    half a period in, as requests of ``BATCH_LIMIT`` items one after another; key result
    indexes from ``offset``."""
    started, number, position = time.monotonic(), 0, 0
    while True:
        due = started + options.batch_every / 2 + number * options.batch_every
        if due >= started + options.duration or stop.wait(max(0.0, due - time.monotonic())):
            return
        sent, applied = time.monotonic(), 0
        for first in range(0, options.batch_size, BATCH_LIMIT):
            items = []
            for _ in range(min(BATCH_LIMIT, options.batch_size - first)):
                items.append((offset + position % len(key_results), poster.value()))
                position += 1
            try:
                status, body = poster.request("POST", "/v1/check-ins/batch", {"items": [
                    {"key_result_id": key_results[index - offset], "value": value,
                     "confidence": 0.7} for index, value in items]})
            except OSError as error:
                status, body = 0, repr(error)
            answered = time.monotonic()
            if status != 200:
                load.errors.append(f"batch {status}: {str(body)[:200]}")
                continue
            applied += body["applied"]
            for (index, value), result in zip(items, body["results"], strict=True):
                if result["status"] == 201:
                    load.batched[value] = (index, answered)
            if body["failed"]:
                load.errors.append(f"batch: {body['failed']} items failed")
        load.batches.append(Batch(sent, time.monotonic(), applied))
        log(f"  batch {number + 1}: {applied:,} check-ins applied in "
            f"{time.monotonic() - sent:.1f} s")
        number += 1


PROBE_VALUES = {"on_track": LATENCY_TARGET, "off_track": 0.0}


def flip(poster: Poster, key_result: str, objective: str, status: str) -> Probe | str:
    """Turn a probe's objective ``status`` (its one key result at its target or at 0, with
    a high confidence); the probe, or why it failed."""
    sent = time.monotonic()
    try:
        code, body = _check_in(poster, key_result, PROBE_VALUES[status], confidence=0.9)
    except OSError as error:
        return repr(error)
    if code != 201:
        return f"probe {code}: {str(body)[:200]}"
    return Probe(objective, status, sent, time.monotonic())


def post_probes(poster: Poster, probes: Sequence[tuple[str, str]], options: MixedOptions,
                load: Load, stop: threading.Event) -> None:
    """Every ``options.probe_every`` seconds the next probe flips (they start on track)."""
    started = time.monotonic()
    for number in itertools.count():
        due = started + number * options.probe_every
        if due >= started + options.duration or stop.wait(max(0.0, due - time.monotonic())):
            return
        key_result, objective = probes[number % len(probes)]
        turn = number // len(probes)
        made = flip(poster, key_result, objective, "off_track" if turn % 2 == 0 else "on_track")
        if isinstance(made, Probe):
            load.probes.append(made)
        else:
            load.errors.append(made)


def run_load(platform: Platform, options: MixedOptions, stop: threading.Event) -> Load:
    poster, load = Poster(platform.goals), Load()
    half = max(1, len(platform.key_results) // 2)
    singles, batched = platform.key_results[:half], platform.key_results[half:] or \
        platform.key_results
    threads = [threading.Thread(target=post_batches, name="bench-batches", daemon=True,
                                args=(poster, batched, len(singles), options, load, stop)),
               threading.Thread(target=post_probes, name="bench-probes", daemon=True,
                                args=(poster, platform.probes, options, load, stop))]
    load.started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        post_singles(poster, singles, options, load)
    finally:
        load.ended = time.monotonic()
        for thread in threads:
            thread.join(options.batch_every + 120)
    return load


# -- before and after the load -------------------------------------------------------------

def _wait(what: str, done: Callable[[], str | None], timeout: float, every: float = 10.0
          ) -> float:
    """Seconds until ``done()`` answers None; otherwise it answers how far it is, logged
    every ``every`` seconds. Raises after ``timeout``."""
    started = last = time.monotonic()
    while (progress := done()) is not None:
        now = time.monotonic()
        if now - started > timeout:
            raise TimeoutError(f"{what}: not done after {timeout:.0f} s ({progress})")
        if now - last >= every:
            last = now
            log(f"  waiting for {what}: {progress}")
        time.sleep(0.2)
    return time.monotonic() - started


def warm_up(platform: Platform, scrapes: Scrapes, lags: GroupLag, options: MixedOptions
            ) -> None:
    """Until the seeded items are in ``/metrics`` and every group has consumed them, then
    each probe turned on track and its webhook received."""
    _wait("the seeded key results in /metrics",
          lambda: None if scrapes.shown >= len(platform.key_results)
          else f"{scrapes.shown:,} of {len(platform.key_results):,}", options.warmup_timeout)
    def caught_up() -> str | None:
        if lags.failures > 30 and not lags.samples:
            raise RuntimeError("the consumer groups' offsets cannot be read")
        if all(lags.latest(g) == 0 for g in GROUPS):
            return None
        return ", ".join(f"{g} {lags.latest(g)}" for g in GROUPS)
    _wait("the consumer groups to catch up", caught_up, options.warmup_timeout)
    poster = Poster(platform.goals)
    for key_result, objective in platform.probes:
        made = flip(poster, key_result, objective, "on_track")
        if not isinstance(made, Probe):
            raise RuntimeError(f"a probe failed: {made}")

    def probes_heard() -> str | None:
        heard = {o for _, o, s in received_status_changes(platform.receiver_log)
                 if s == "on_track"}
        left = sum(objective not in heard for _, objective in platform.probes)
        return None if not left else f"{left} probes without a webhook"
    _wait("the probes' first webhooks", probes_heard, 300.0)


def drain(load: Load, scrapes: Scrapes, lags: GroupLag,
          options: MixedOptions) -> float | None:
    """After the load: seconds until every check-in is in ``/metrics`` and every group's lag
    is 0, or None if that took longer than ``options.drain``."""
    unseen = [(kr, value) for value, (kr, _) in itertools.chain(load.singles.items(),
                                                                  load.batched.items())]

    def left() -> str | None:
        unseen[:] = [(kr, value) for kr, value in unseen
                     if scrapes.visible_at(kr, value) is None]
        behind = {g: lags.latest(g) for g in GROUPS}
        return None if not unseen and not any(behind.values()) else (
            f"{len(unseen):,} check-ins not in /metrics, lag {behind}")
    try:
        return _wait("what the load left on its way", left, options.drain)
    except TimeoutError as error:
        log(str(error))
        return None


# -- the report ------------------------------------------------------------------------------

def _ms(values: Sequence[float]) -> list[str]:
    """count, p50, p99 and max in milliseconds."""
    return [f"{len(values):,}", fmt(1000 * percentile(values, 0.5), 0),
            fmt(1000 * percentile(values, 0.99), 0),
            fmt(1000 * max(values, default=float("nan")), 0)]


def _visible(sent: dict[int, tuple[int, float]], scrapes: Scrapes) -> tuple[list[float], int]:
    seconds, missing = [], 0
    for value, (key_result, accepted) in sent.items():
        shown = scrapes.visible_at(key_result, value)
        if shown is None:
            missing += 1
        else:
            seconds.append(shown - accepted)
    return seconds, missing


@dataclass
class Recovery:
    group: str
    batch: int
    peak: int  # the most messages behind after the batch
    to_level: float | None  # seconds from the batch's answer back to the lag before it
    to_zero: float | None  # ... to 0


def recoveries(load: Load, lags: GroupLag, settle: float = 5.0) -> list[Recovery]:
    """For each batch and group: the lag's peak after the batch, and when it came back to
    its level of the ``settle`` seconds before the batch (the steady load's), and to 0;
    looked for until the next batch (or the end of the samples)."""
    found = []
    for group in GROUPS:
        samples = lags.samples.get(group, [])
        for number, batch in enumerate(load.batches):
            ends = (load.batches[number + 1].sent_at if number + 1 < len(load.batches)
                    else float("inf"))
            before = [lag for at, lag in samples if batch.sent_at - settle <= at <= batch.sent_at]
            after = [(at, lag) for at, lag in samples if batch.sent_at <= at < ends]
            level = max(before, default=0)
            back = next((at for at, lag in after if at >= batch.answered_at and lag <= level),
                        None)
            zero = next((at for at, lag in after if at >= batch.answered_at and lag == 0), None)
            found.append(Recovery(group, number + 1, max((lag for _, lag in after), default=0),
                                  None if back is None else back - batch.answered_at,
                                  None if zero is None else zero - batch.answered_at))
    return found


def report(platform: Platform, options: MixedOptions, load: Load, scrapes: Scrapes,
           tail: Tail, lags: GroupLag, memory: Memory, drained: float | None,
           loads: list[float], received: Sequence[tuple[float, str, str]],
           timeouts: dict[str, int]) -> list[BenchResult]:
    visible, unseen = _visible(load.singles, scrapes)
    batch_visible, batch_unseen = _visible(load.batched, scrapes)
    hop = [tail.arrived[v] - at for v, (_, at) in load.singles.items() if v in tail.arrived]
    webhooks, unheard = webhook_seconds(load.probes, received)
    probe_objectives = {objective for _, objective in platform.probes}
    heard = Counter(status for _, objective, status in received if objective in probe_objectives)
    p99 = percentile(visible, 0.99) if visible else float("inf")
    webhook_p99 = percentile(webhooks, 0.99) if webhooks else float("inf")
    shape = (f"{options.key_results:,} key results, {options.subscriptions:,} subscriptions, "
             f"{options.rate:g} check-ins/s + {options.batch_size:,} every "
             f"{options.batch_every:g} s for {options.duration:g} s; goals API "
             f"{options.goals_workers}x{options.goals_threads}, "
             f"{options.notification_workers} notification worker(s), metrics standby "
             f"{'on' if options.standby_metrics else 'off'}")
    averages = ", ".join(f"{x:.1f}" for x in loads)
    scrape_ms = 1000 * percentile([b - a for a, b in itertools.pairwise(scrapes.ended)], 0.5)
    latency = BenchResult(
        f"mixed load: latency ({shape})", options.database,
        ["path", "count", "p50 ms", "p99 ms", "max ms", "never seen"],
        [["baseline: 201 -> plain consumer of okr.goals.v1 (relay hop)", *_ms(hop),
          str(len(load.singles) - len(hop))],
         ["check-in 201 -> scraped /metrics shows it", *_ms(visible), str(unseen)],
         ["batch request answered -> /metrics shows the item", *_ms(batch_visible),
          str(batch_unseen)],
         ["probe 201 -> immediate webhook received", *_ms(webhooks), str(unheard)]],
        [Check("check-in -> /metrics p99 s", p99, f"< {VISIBLE_TARGET_S:g}",
               unseen == 0 and p99 < VISIBLE_TARGET_S),
         Check("check-in -> webhook p99 s", webhook_p99, f"< {WEBHOOK_TARGET_S:g}",
               unheard == 0 and webhook_p99 < WEBHOOK_TARGET_S)],
        details={"visible_p50": percentile(visible, 0.5), "visible_p99": p99,
                 "hop_p50": percentile(hop, 0.5), "hop_p99": percentile(hop, 0.99),
                 "webhook_p50": percentile(webhooks, 0.5), "webhook_p99": webhook_p99,
                 "unseen": unseen, "batch_unseen": batch_unseen, "unheard": unheard,
                 "probes": len(load.probes), "probe_webhooks_by_status": dict(heard),
                 "status_change_webhooks": len(received), "load_averages": loads},
        notes=[f"load average (1 min) before / after the load / after the drain: {averages}",
               f"a scrape every {scrape_ms:.0f} ms (median; its end is the moment seen)"])
    seconds = load.ended - load.started
    requests = BenchResult(
        "mixed load: requests", options.database,
        ["what", "asked", "done", "per second", "answer p50 ms", "answer p99 ms", "errors"],
        [["check-ins (POST /v1/key-results/{id}/check-ins)",
          f"{round(options.rate * options.duration):,}", f"{len(load.singles):,}",
          fmt(len(load.singles) / seconds if seconds else float("nan")),
          fmt(1000 * percentile(load.answer_seconds, 0.5), 1),
          fmt(1000 * percentile(load.answer_seconds, 0.99), 1),
          str(sum(e.startswith("check-in") for e in load.errors))],
         ["batch check-ins (POST /v1/check-ins/batch)",
          f"{len(load.batches) * options.batch_size:,}", f"{len(load.batched):,}",
          "", " / ".join(f"{b.answered_at - b.sent_at:.1f} s" for b in load.batches), "",
          str(sum(e.startswith("batch") for e in load.errors))],
         ["probes (a status turned)", "", f"{len(load.probes):,}", "", "", "",
          str(sum(e.startswith("probe") for e in load.errors))]],
        details={"seconds": seconds, "behind_ms": load.behind_ms, "errors": load.errors[:50]},
        notes=[f"posts started behind schedule at worst {load.behind_ms:,.0f} ms "
               f"({options.posting_threads} posting threads); answer times run from the send"])
    found = recoveries(load, lags)
    worst = max((r.to_level if r.to_level is not None else float("inf") for r in found),
                default=float("nan"))
    lag_rows = [[r.group, str(r.batch), f"{r.peak:,}",
                 "not back" if r.to_level is None else f"{r.to_level:.1f}",
                 "never 0" if r.to_zero is None else f"{r.to_zero:.1f}"] for r in found]
    for group in GROUPS:
        samples = [lag for at, lag in lags.samples.get(group, [])
                   if load.started <= at <= load.ended]
        lag_rows.append([group, "whole run", f"{max(samples, default=0):,}",
                         f"median {percentile(samples, 0.5):,.0f}",
                         f"{sum(s == 0 for s in samples) / max(1, len(samples)):.0%} at 0"])
    lag = BenchResult(
        "mixed load: consumer lag after each batch", options.database,
        ["group", "batch", "peak lag", "s back to the level before", "s to 0"], lag_rows,
        [Check("slowest return to the lag before a batch, s", worst,
               f"< {RECOVERY_TARGET_S:g}", worst < RECOVERY_TARGET_S)],
        details={"recoveries": [asdict(r) for r in found], "drained_s": drained,
                 "lag_samples_lost": lags.failures, "poll_timeouts": timeouts},
        notes=["lag from the broker: high watermarks (a plain consumer's fetches) minus the "
               "group's committed offsets, every second; times from the batch's last answer",
               "after the load everything was in /metrics and every lag 0 " + (
                   f"{drained:.1f} s later" if drained is not None
                   else f"NOT within {options.drain:g} s"),
               f"max_poll_interval_ms {options.max_poll_interval_ms:,}; overrun (the worker "
               "left its group and rejoined): " + (", ".join(
                   f"{name} {count}x" for name, count in timeouts.items() if count) or "never")])
    rows, late = [], []
    for name in platform.processes:
        profile = memory.profile(name)
        if profile is None:
            continue
        if name not in ("Tansu broker", "this benchmark"):  # they keep what they saw
            late.append(profile.late_slope)
        rows.append([name, f"{profile.start:.0f}", f"{profile.end:.0f}", f"{profile.peak:.0f}",
                     f"{profile.slope:+.2f}", f"{profile.late_slope:+.2f}",
                     f"{profile.cpu:.2f}"])
    steepest = max(late, default=float("nan"))
    rss = BenchResult(
        "mixed load: memory and CPU of every process", options.database,
        ["process", "start MiB", "end MiB", "peak MiB", "MiB/min", "MiB/min 2nd half",
         "CPU cores"], rows,
        [Check("steepest growth in the run's second half, MiB/min (the platform's processes)",
               steepest, f"< {FLAT_TARGET_MIB_PER_MINUTE:g}",
               steepest < FLAT_TARGET_MIB_PER_MINUTE)],
        details={name: asdict(p) for name in platform.processes
                 if (p := memory.profile(name)) is not None},
        notes=[f"RSS every {options.memory_every:g} s over the load and the drain; slopes "
               "by least squares; Tansu keeps every message in memory and this benchmark "
               "every observation, so both grow by design (not in the check)",
               "CPU cores: the process's CPU seconds over the same time (1.00: one core all "
               "the time; the machine has 2); 'this benchmark' posts, scrapes and tails"])
    return [latency, requests, lag, rss]


# -- running ---------------------------------------------------------------------------------

def run_mixed(options: MixedOptions) -> list[BenchResult]:
    stop, watching = threading.Event(), threading.Event()
    with running(options) as platform:
        tail = Tail(platform.kafka, (Topic.GOALS.value, Topic.ROLLUPS.value))
        lags = GroupLag(platform.kafka, tail, dict(GROUPS))
        scrapes = Scrapes(f"http://{platform.metrics_api.host}:{platform.metrics_api.port}"
                          "/metrics", {kr: i for i, kr in enumerate(platform.key_results)})
        memory = Memory(platform.processes, options.memory_every)
        watchers = [tail.start(watching),
                    threading.Thread(target=lags.run, args=(watching,), daemon=True),
                    threading.Thread(target=scrapes.run, args=(watching,), daemon=True)]
        for thread in watchers[1:]:
            thread.start()
        sampler = threading.Thread(target=memory.run, args=(stop,), daemon=True)
        try:
            warm_up(platform, scrapes, lags, options)
            loads = [load_average()]
            log(f"load: {options.rate:g} check-ins/s, {options.batch_size:,} every "
                f"{options.batch_every:g} s, a probe every {options.probe_every:g} s, for "
                f"{options.duration:g} s")
            sampler.start()
            load = run_load(platform, options, stop)
            loads.append(load_average())
            drained = drain(load, scrapes, lags, options)
            loads.append(load_average())
            received = received_status_changes(platform.receiver_log)
            timeouts = poll_timeouts(platform.logs)
        finally:
            stop.set()
            watching.set()
            for thread in [*watchers, sampler]:
                if thread.is_alive() or thread is not sampler:
                    thread.join(timeout=35)
    return report(platform, options, load, scrapes, tail, lags, memory, drained, loads,
                  received, timeouts)


def parser() -> argparse.ArgumentParser:
    defaults = MixedOptions()
    p = argparse.ArgumentParser(prog="python -m bench mixed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database", choices=("postgresql", "sqlite"), default=defaults.database)
    for name, help_text in (
            ("key-results", "key results of the load (two or more)"),
            ("subscriptions", "notification subscriptions, the probes' among them"),
            ("batch-size", "check-ins a batch"),
            ("goals-workers", "gunicorn processes of the goals API"),
            ("goals-threads", "threads of each"),
            ("posting-threads", "threads posting the check-ins"),
            ("notification-workers", "okr-notifications worker processes (one group)"),
            ("probes", "objectives whose status the probes turn"),
            ("max-poll-interval-ms", "the consumers' OKR_KAFKA_MAX_POLL_INTERVAL_MS")):
        attribute = name.replace("-", "_")
        p.add_argument(f"--{name}", type=int, default=getattr(defaults, attribute),
                       help=f"{help_text} (default {getattr(defaults, attribute):,})")
    for name, help_text in (
            ("rate", "check-ins a second through the API"),
            ("batch-every", "seconds between batches"),
            ("duration", "seconds of load"),
            ("probe-every", "seconds between probes"),
            ("memory-every", "seconds between RSS samples"),
            ("drain", "seconds to wait after the load for what is on its way")):
        attribute = name.replace("-", "_")
        p.add_argument(f"--{name}", type=float, default=getattr(defaults, attribute),
                       help=f"{help_text} (default {getattr(defaults, attribute):g})")
    p.add_argument("--standby-metrics", action="store_true",
                   help="a second okr-metrics consume standing by on the lease")
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(parser().parse_args(argv))
    no_json = args.pop("no_json")
    options = MixedOptions(**args)
    if options.key_results < 2 or options.probes < 1:
        log("--key-results must be 2 or more and --probes 1 or more")
        return 2
    if options.database == "postgresql" and (reason := postgres_reachable()) is not None:
        log(f"PostgreSQL unreachable ({reason}); set OKR_TEST_POSTGRES_URL")
        return 2
    started = time.monotonic()
    results = run_mixed(options)
    for result in results:
        print(render(result) + "\n", flush=True)
    log(f"mixed load done in {time.monotonic() - started:.0f} s")
    if not no_json:
        print(f"results written to {write_results(results, asdict(options))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
