"""What every benchmark needs: a broker, a database, events, statistics and the report.

Each benchmark starts its own Tansu broker on a free port and creates (and drops) its own
migrated database, so runs never share state with each other or with a developer's
``make run``. Every result is a ratio against a baseline measured in the same run: the
machine is shared and noisy, absolute numbers mean little.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import Engine, Table, func, select
from sqlalchemy.engine import make_url

from services.goals.adapters import tables
from services.goals.domain.reference_data import Cycle
from services.goals.entrypoints.cli import MIGRATIONS as GOALS_MIGRATIONS
from shared.cloudevents import KAFKA_CONTENT_TYPE, CloudEvent, new_event
from shared.config import KafkaSettings, RelaySettings
from shared.contract import TOPIC_OF, EventType
from shared.messaging.kafka_clients import ensure_topics, new_consumer
from shared.persistence.engine import create_database_engine
from shared.persistence.migrations import upgrade_to_head
from tools.embedded_broker import EmbeddedBroker

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
EVENT_SOURCE = "/okr/goals"
#: The benchmark events are cycle events: they go to okr.goals.v1, like every goals event.
EVENT_TYPE = EventType.CYCLE_CREATED
TOPIC = TOPIC_OF[EVENT_TYPE].value

Headers = list[tuple[str, bytes]]


def log(message: str) -> None:
    """Progress on stderr, so the table on stdout stays clean."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- Kafka ---------------------------------------------------------------------------------

@contextlib.contextmanager
def running_broker() -> Iterator[KafkaSettings]:
    """A fresh Tansu broker on a free port, with every platform topic created."""
    broker = EmbeddedBroker(free_port()).start()
    try:
        settings = KafkaSettings(
            bootstrap_servers=broker.bootstrap_servers,
            topic_partitions=3,
            replication_factor=1,
            max_poll_interval_ms=2_000,
            session_timeout_ms=6_000,
            request_timeout_ms=5_000,
        )
        ensure_topics(settings, "bench-admin")
        yield settings
    finally:
        broker.stop()


def relay_settings(batch_size: int = 500) -> RelaySettings:
    return RelaySettings(batch_size=batch_size, fallback_poll_seconds=1.0,
                         sqlite_poll_seconds=0.02, retention_hours=24.0,
                         topic_check_seconds=300.0)


def tail_consumer(kafka: KafkaSettings, client_id: str, topic: str = TOPIC,
                  **overrides: object) -> KafkaConsumer:
    """A consumer without a group (Tansu delays group joins), assigned every partition of
    ``topic`` and positioned at its end, so it sees only what is produced from now on."""
    consumer = new_consumer(kafka, client_id, group_id=None, **overrides)
    partitions = consumer.partitions_for_topic(topic) or set()
    if not partitions:
        consumer.close()
        raise RuntimeError(f"topic {topic} has no partitions")
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    for tp in tps:
        consumer.position(tp)  # resolve "end" now, not at the first poll
    return consumer


def count_records(kafka: KafkaSettings, expected: int, topic: str = TOPIC,
                  timeout: float = 120.0) -> int:
    """How many records ``topic`` holds, read from the beginning; stops at ``expected``
    plus a short quiet period (to see extras), or when nothing came for 2 s after
    ``timeout``."""
    consumer = new_consumer(kafka, "bench-counter", group_id=None, fetch_max_wait_ms=50)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic)
                                                        or set())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        count = 0
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while True:
            for messages in consumer.poll(timeout_ms=200, max_records=5_000).values():
                count += len(messages)
                last_new = time.monotonic()
            quiet = time.monotonic() - last_new
            if count >= expected and quiet >= 0.5:
                return count
            if time.monotonic() > deadline and quiet >= 2.0:
                return count
    finally:
        consumer.close()


def kafka_environment(kafka: KafkaSettings) -> dict[str, str]:
    """The environment that points a platform process at ``kafka`` (the benchmark's
    broker, with its short group timeouts)."""
    return {"OKR_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "OKR_KAFKA_TOPIC_PARTITIONS": str(kafka.topic_partitions),
            "OKR_KAFKA_MAX_POLL_INTERVAL_MS": str(kafka.max_poll_interval_ms),
            "OKR_KAFKA_SESSION_TIMEOUT_MS": str(kafka.session_timeout_ms),
            "OKR_KAFKA_REQUEST_TIMEOUT_MS": str(kafka.request_timeout_ms),
            "OKR_LOG_LEVEL": "WARNING", "OKR_LOG_JSON": "false"}


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def worker_process(command: list[str], env: dict[str, str], log_dir: Path
                   ) -> Iterator[subprocess.Popen[bytes]]:
    """``okr-goals relay`` / ``okr-metrics consume`` as the deployment runs them: a process
    of its own, stopped with SIGTERM when the block ends (its log tail shown if it failed)."""
    log_path = log_dir / f"{command[0]}-{command[1]}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([str(Path(sys.executable).with_name(command[0])),
                                    *command[1:]], env={**os.environ, **env},
                                   stdout=log_file, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop(process, timeout=20)
        if process.returncode not in (0, -signal.SIGTERM):
            log(f"{' '.join(command)} exited with {process.returncode}:\n"
                f"{log_path.read_text(errors='replace')[-2000:]}")


def own_cpu_seconds(pid: int) -> float | None:
    """CPU (user + system) seconds used so far by process ``pid`` alone, from ``/proc``;
    None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU (user + system) seconds used so far by process ``pid`` and its live children
    (a gunicorn master and its workers), from ``/proc``; 0.0 where there is none."""
    total = 0.0
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat[stat.rindex(")") + 2:].split()[1])
        if int(entry.name) == pid or parent == pid:
            total += own_cpu_seconds(int(entry.name)) or 0.0
    return total


def load_average() -> float:
    """The one-minute load average, reported beside every figure."""
    return os.getloadavg()[0]


# -- databases -----------------------------------------------------------------------------

def postgres_admin_url() -> str:
    return os.environ.get("OKR_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


def postgres_reachable() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    try:
        with psycopg.connect(postgres_admin_url(), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip()


@contextlib.contextmanager
def goals_database(kind: str, purpose: str) -> Iterator[str]:
    """A migrated goals database of ``kind`` (postgresql or sqlite), dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"okr-bench-{purpose}-") as directory:
            url = f"sqlite:///{Path(directory) / 'goals.db'}"
            upgrade_to_head(GOALS_MIGRATIONS, url)
            yield url
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind!r}")
    admin = postgres_admin_url()
    name = f"okr_bench_{purpose}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_to_head(GOALS_MIGRATIONS, url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def open_engine(url: str) -> Engine:
    return create_database_engine(url)


def pending_count(engine: Engine, outbox: Table = tables.plumbing.outbox) -> int:
    """Unpublished rows of ``outbox`` (the goals service's unless told)."""
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(outbox)
                                      .where(outbox.c.published_at.is_(None))).scalar_one())


def wait_until_published(url: str, timeout: float = 300.0) -> None:
    """Until the relay has published every outbox row (the seeded items' events)."""
    engine = open_engine(url)
    try:
        deadline = time.monotonic() + timeout
        while (pending := pending_count(engine)) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the relay left {pending} events unpublished")
            time.sleep(0.2)
    finally:
        engine.dispose()


# -- events --------------------------------------------------------------------------------

@dataclass(frozen=True)
class BenchEvent:
    """One event, as the outbox stores it and as a plain producer would send it."""

    event: CloudEvent
    key: str
    value: bytes

    @property
    def headers(self) -> Headers:
        """The headers the relay sends (so the baseline sends the same bytes)."""
        return [("content-type", KAFKA_CONTENT_TYPE.encode()), ("ce_id", self.event.id.encode())]


def cycle_event(key: str) -> BenchEvent:
    """A ``okr.cycle.created`` event shaped like the ones the goals service writes."""
    state = Cycle.new(key, date(2026, 10, 1), date(2026, 12, 31)).state()
    event = new_event(EVENT_TYPE, EVENT_SOURCE, f"cycle/{key}", state)
    return BenchEvent(event=event, key=key, value=event.to_json())


def make_events(count: int, prefix: str) -> list[BenchEvent]:
    return [cycle_event(f"{prefix}-{i:06d}") for i in range(count)]


# -- statistics ----------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


# -- the report ----------------------------------------------------------------------------

@dataclass
class Check:
    """One target: a ratio (or value) and whether it met its goal."""

    name: str
    value: float
    target: str
    met: bool


@dataclass
class BenchResult:
    name: str
    database: str
    headers: list[str]
    rows: list[list[str]]
    checks: list[Check] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "database": self.database,
            "table": {"headers": self.headers, "rows": self.rows},
            "checks": [check.__dict__ for check in self.checks],
            "details": self.details,
            "notes": self.notes,
        }


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                         for i, cell in enumerate(cells))
    separator = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), separator, *(line(row) for row in rows)])


def render(result: BenchResult) -> str:
    parts = [f"== {result.name} ({result.database}) ==",
             format_table(result.headers, result.rows)]
    for check in result.checks:
        verdict = "met" if check.met else "NOT MET"
        parts.append(f"  {check.name} = {check.value:.3f} (target {check.target}): {verdict}")
    parts.extend(f"  note: {note}" for note in result.notes)
    return "\n".join(parts)


def write_results(results: Sequence[BenchResult], options: dict[str, Any],
                  directory: Path = RESULTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"bench-{stamp}.json"
    document = {
        "started_at": stamp,
        "options": options,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_average": list(os.getloadavg())},
        "results": [result.to_dict() for result in results],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def fmt(value: float, digits: int = 1) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"
