"""Check-in benchmarks through the real HTTP server (gunicorn) on PostgreSQL.

``python -m bench.checkins`` (or ``python -m bench checkins``; ``--quick`` for a short run,
``--help`` for the options) measures, in one run and on one freshly created database:

1. **throughput**: check-ins per second (``POST /v1/key-results/{id}/check-ins``) from N
   concurrent keep-alive clients, against the baseline app (``bench/checkin_baseline.py``:
   one INSERT with SQLAlchemy per request) served by gunicorn with the same workers and
   threads (default 2 workers x 8 threads on both sides, printed with the results; the
   platform's ``okr-goals serve`` runs 2 x 4) and driven by the same client; rounds
   alternate which side goes first; the result is the median ratio goals / baseline
   (target >= 0.7, issue 17);
2. **latency**: p50 and p99 of check-ins at a fixed rate (open loop, 100 requests/s by
   default), measured from when each request was due, next to the baseline's at the same
   rate;
3. **batch**: check-ins per second through ``POST /v1/check-ins/batch`` at batches of 100
   and 1,000, against the baseline's one-transaction batch insert of the same rows.

The clients authenticate with a minted head token (one token lookup per request, as an
automated system would), unless ``--admin-token``. As in production (``make run``, the
deployment), ``okr-goals relay`` runs beside the API in its own process and publishes every
check-in's event to a real Tansu broker while the check-ins are measured (``--no-relay``:
no broker, no relay, the events stay in the outbox). The goals database holds
``--key-results`` key results (10,000 by default, ten per objective, written with their
events before the servers start; the relay has published those before the first round),
and the check-ins go to all of them in turn. Each throughput round notes the one-minute
load average. Results are printed as tables (progress on stderr) and written to
``bench/results/checkins-<time>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench.checkin_baseline import create_scratch_table
from bench.common import (
    RESULTS_DIR,
    BenchResult,
    Check,
    cpu_seconds,
    fmt,
    free_port,
    goals_database,
    kafka_environment,
    load_average,
    log,
    median,
    own_cpu_seconds,
    percentile,
    postgres_reachable,
    ratio,
    render,
    running_broker,
    wait_until_published,
    worker_process,
)
from bench.goals_seed import seed_key_results
from bench.http_load import GOALS_WSGI, HttpClient, LoadResult, Server, closed_loop, gunicorn
from bench.http_load import open_loop as open_loop_load
from services.goals.bootstrap import bootstrap
from services.goals.config import GoalsConfig
from services.goals.service_layer.reference_data import seed_default_departments

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
BASELINE_WSGI = "bench.checkin_baseline:app"
CYCLE = "2026-Q4"
THROUGHPUT_TARGET = 0.7


@dataclass(frozen=True)
class CheckInBenchOptions:
    database: str = "postgresql"
    workers: int = 2
    threads: int = 8
    clients: int = 16
    requests: int = 3_000          # per side per round (throughput)
    rounds: int = 5
    warmup: int = 200              # per side, before the first round
    rate: float = 100.0            # latency: requests/s
    duration: float = 20.0         # latency: seconds per side
    batch_sizes: tuple[int, ...] = (100, 1_000)
    batch_items: int = 20_000      # check-ins per batch size per side
    batch_clients: int = 2
    key_results: int = 10_000
    relay: bool = True             # okr-goals relay beside the API, publishing to Tansu
    time_limit: float = 120.0      # seconds per measured side, at most
    admin_token: bool = False
    skip: tuple[str, ...] = ()
    goals_wsgi: str = GOALS_WSGI   # another entry point, to profile a variant
    extra_env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def quick(cls, **overrides: Any) -> CheckInBenchOptions:
        values: dict[str, Any] = {"requests": 600, "rounds": 1, "warmup": 50, "duration": 5.0,
                                  "batch_items": 3_000, "time_limit": 60.0,
                                  "key_results": 1_000}
        values.update(overrides)
        return cls(**values)


# -- the environment: a database, the two servers, the seeded goals ----------------------

@dataclass
class Fixture:
    goals: Server
    baseline: Server
    token: str
    key_results: list[str]
    relay_pid: int | None = None  # okr-goals relay, when it runs
    database_url: str | None = None  # PostgreSQL: its server processes' CPU is read too

    def client(self, server: Server) -> HttpClient:
        return HttpClient(server.host, server.port, self.headers)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _created(reply: Any, what: str) -> dict[str, Any]:
    if reply.status != 201:
        raise RuntimeError(f"creating {what}: {reply.status} {reply.body[:500]!r}")
    body: dict[str, Any] = reply.json()
    return body


def _mint_token(goals: Server, options: CheckInBenchOptions) -> str:
    """A head token of sales (or the admin token, with ``--admin-token``)."""
    if options.admin_token:
        return ADMIN_TOKEN
    admin = HttpClient(goals.host, goals.port, {"Authorization": f"Bearer {ADMIN_TOKEN}"})
    try:
        token: str = _created(admin.request("POST", "/v1/tokens", {
            "name": "bench crm", "role": "head", "department": "sales"}), "a token")["token"]
        return token
    finally:
        admin.close()


@contextlib.contextmanager
def running(options: CheckInBenchOptions) -> Iterator[Fixture]:
    """A fresh migrated database of ``options.key_results`` key results, the goals service
    and the baseline app on gunicorn, and (unless ``--no-relay``) a broker and the relay."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(goals_database(options.database, "checkins"))
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="okr-bench-checkins-"))
        env = {"OKR_GOALS_DATABASE_URL": url, "OKR_ADMIN_TOKEN": ADMIN_TOKEN,
               "OKR_BENCH_DATABASE_URL": url, "OKR_DATA_DIR": data_dir,
               "OKR_GOALS_WORKER_METRICS_PORT": str(free_port()),
               # Without the relay no broker is needed on the write path; this address
               # only serves /readyz, which the benchmark does not call.
               "OKR_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
        if options.relay:
            env.update(kafka_environment(stack.enter_context(running_broker())))
        env.update({"OKR_LOG_LEVEL": "WARNING", "OKR_LOG_JSON": "true",
                    **dict(options.extra_env)})
        container = bootstrap(GoalsConfig.from_env(env))
        try:
            seed_default_departments(container.unit_of_work())
            started = time.monotonic()
            key_results = seed_key_results(container.unit_of_work, options.key_results,
                                           cycle=CYCLE)
            log(f"{len(key_results):,} key results written in "
                f"{time.monotonic() - started:.1f} s")
            create_scratch_table(container.engine)
        finally:
            container.close()
        relay_pid = None
        if options.relay:
            relay_pid = stack.enter_context(worker_process(["okr-goals", "relay"], env,
                                                           Path(data_dir))).pid
            started = time.monotonic()
            wait_until_published(url)
            log(f"the relay published the seeded events in {time.monotonic() - started:.1f} s")
        settings = {"workers": options.workers, "threads": options.threads}
        goals = stack.enter_context(gunicorn(options.goals_wsgi, env, **settings))
        baseline = stack.enter_context(gunicorn(BASELINE_WSGI, env, **settings))
        log(f"goals on :{goals.port}, baseline on :{baseline.port} ({options.database}, "
            f"{options.workers} workers x {options.threads} threads, relay "
            f"{'running' if options.relay else 'off'})")
        yield Fixture(goals=goals, baseline=baseline, token=_mint_token(goals, options),
                      key_results=key_results, relay_pid=relay_pid,
                      database_url=url if options.database == "postgresql" else None)
        if options.relay:
            wait_until_published(url)  # the relay kept up: nothing left behind


# -- requests --------------------------------------------------------------------------------

def _check_in_request(fixture: Fixture, side: str):  # type: ignore[no-untyped-def]
    key_results = fixture.key_results

    def make(client: int, index: int) -> tuple[str, str, Any, None]:
        key_result = key_results[index % len(key_results)]
        body = {"value": float(index % 1_000_000), "confidence": 0.7,
                "note": f"bench check-in {index} from client {client}", "source": "system"}
        if side == "goals":
            return "POST", f"/v1/key-results/{key_result}/check-ins", body, None
        return "POST", f"/rows/{key_result}", body, None

    return make


def _batch_request(fixture: Fixture, side: str, size: int):  # type: ignore[no-untyped-def]
    key_results = fixture.key_results

    def make(client: int, index: int) -> tuple[str, str, Any, None]:
        items = [{"key_result_id": key_results[(client * 7 + j) % len(key_results)],
                  "value": float(j), "confidence": 0.5, "note": f"batch {index} item {j}",
                  "source": "system"} for j in range(size)]
        path = "/v1/check-ins/batch" if side == "goals" else "/rows/batch"
        return "POST", path, {"items": items}, None

    return make


def _created_status(reply: Any) -> bool:
    return bool(reply.status == 201)


def _batch_applied(size: int):  # type: ignore[no-untyped-def]
    def ok(reply: Any) -> bool:
        return bool(reply.status == 200 and reply.json().get("applied") == size)
    return ok


def _server(fixture: Fixture, side: str) -> Server:
    return fixture.goals if side == "goals" else fixture.baseline


def _require_clean(load: LoadResult, side: str, what: str) -> None:
    if load.errors:
        raise RuntimeError(f"{what} ({side}): {len(load.errors)} bad answers, e.g. "
                           f"{load.errors[:3]}; statuses {dict(load.statuses)}")


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _side_cpu(fixture: Fixture, side: str) -> tuple[float, float]:
    """CPU seconds so far of what serves ``side``: its gunicorn (master and workers), and of
    the relay publishing the goals service's events (0 for the baseline, or without it)."""
    relay = (cpu_seconds(fixture.relay_pid)
             if side == "goals" and fixture.relay_pid is not None else 0.0)
    return cpu_seconds(_server(fixture, side).process.pid), relay


def _database_cpu(fixture: Fixture) -> dict[int, float] | None:
    """CPU seconds so far of each PostgreSQL server process connected to the benchmark's
    database (both sides' pools and the relay's), by process id, from ``/proc``; None on
    SQLite (its work is in the servers' own CPU) or with the server on another machine."""
    if fixture.database_url is None:
        return None
    url = make_url(fixture.database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False),
                         autocommit=True) as connection:
        pids = [pid for (pid,) in connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")]
    seconds = {pid: own_cpu_seconds(pid) for pid in pids}
    if pids and all(value is None for value in seconds.values()):
        return None  # a server elsewhere
    return {pid: value for pid, value in seconds.items() if value is not None}


def _database_ms(before: dict[int, float] | None, after: dict[int, float] | None,
                 requests: int) -> float:
    """The database's CPU per request between two readings: a process that started in
    between counts whole; one that ended in between (the goals service's relay wake-up
    connection, closed after 5 s without a commit) is left out, and its last moments with
    it."""
    if before is None or after is None:
        return float("nan")
    return _ms(sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())) / requests


# -- 1. throughput -------------------------------------------------------------------------

def measure_throughput(fixture: Fixture, options: CheckInBenchOptions) -> BenchResult:
    sides = ("baseline", "goals")
    for side in sides:
        log(f"throughput: warming up {side} ({options.warmup} requests)")
        server = _server(fixture, side)
        warm = closed_loop(server.host, server.port, _check_in_request(fixture, side),
                           clients=options.clients, requests=options.warmup,
                           time_limit=options.time_limit, headers=fixture.headers,
                           expect=_created_status)
        _require_clean(warm, side, "warm-up")
    rates: dict[str, list[float]] = {side: [] for side in sides}
    p50s: dict[str, list[float]] = {side: [] for side in sides}
    cpu_ms: dict[str, list[float]] = {side: [] for side in sides}  # per request, all of it
    relay_cpu_ms: list[float] = []  # per check-in, the relay's part
    database_cpu_ms: dict[str, list[float]] = {side: [] for side in sides}
    client_cpu_ms: dict[str, list[float]] = {side: [] for side in sides}
    ratios: list[float] = []
    loads: list[float] = []
    rows: list[list[str]] = []
    for round_number in range(options.rounds):
        order = sides if round_number % 2 == 0 else sides[::-1]
        measured: dict[str, LoadResult] = {}
        for side in order:
            server = _server(fixture, side)
            cpu_before = _side_cpu(fixture, side)
            database_before, client_before = _database_cpu(fixture), time.process_time()
            load = closed_loop(server.host, server.port, _check_in_request(fixture, side),
                               clients=options.clients, requests=options.requests,
                               time_limit=options.time_limit, headers=fixture.headers,
                               expect=_created_status)
            _require_clean(load, side, "throughput")
            cpu_after = _side_cpu(fixture, side)
            client_cpu_ms[side].append(_ms(time.process_time() - client_before) / load.requests)
            database_cpu_ms[side].append(_database_ms(database_before, _database_cpu(fixture),
                                                      load.requests))
            cpu_ms[side].append(_ms(sum(cpu_after) - sum(cpu_before)) / load.requests)
            if side == "goals":
                relay_cpu_ms.append(_ms(cpu_after[1] - cpu_before[1]) / load.requests)
            measured[side] = load
            rates[side].append(load.per_second)
            p50s[side].append(_ms(percentile(load.latencies, 0.5)))
            log(f"throughput round {round_number + 1}/{options.rounds} {side}: "
                f"{load.requests} requests in {load.seconds:.2f} s = {load.per_second:,.0f}/s")
        ratios.append(ratio(measured["goals"].per_second, measured["baseline"].per_second))
        loads.append(load_average())
        rows.append([f"round {round_number + 1}", fmt(measured["baseline"].per_second),
                     fmt(measured["goals"].per_second), f"{ratios[-1]:.3f}",
                     fmt(_ms(percentile(measured["baseline"].latencies, 0.5)), 2),
                     fmt(_ms(percentile(measured["goals"].latencies, 0.5)), 2),
                     fmt(cpu_ms["baseline"][-1], 2), fmt(cpu_ms["goals"][-1], 2),
                     fmt(relay_cpu_ms[-1], 2), fmt(database_cpu_ms["baseline"][-1], 2),
                     fmt(database_cpu_ms["goals"][-1], 2), f"{loads[-1]:.1f}"])
    median_ratio = median(ratios)
    rows.append(["median", fmt(median(rates["baseline"])), fmt(median(rates["goals"])),
                 f"{median_ratio:.3f}", "", "", fmt(median(cpu_ms["baseline"]), 2),
                 fmt(median(cpu_ms["goals"]), 2), fmt(median(relay_cpu_ms), 2),
                 fmt(median(database_cpu_ms["baseline"]), 2),
                 fmt(median(database_cpu_ms["goals"]), 2), f"{median(loads):.1f}"])
    rows.append(["spread", "", "", f"{min(ratios):.3f}-{max(ratios):.3f}", "", "", "", "", "",
                 "", "", f"{min(loads):.1f}-{max(loads):.1f}"])
    relay = "relay publishing beside it" if options.relay else "no relay"
    return BenchResult(
        name=f"check-in throughput, {options.clients} clients, gunicorn {options.workers} "
             f"workers x {options.threads} threads (both sides), {relay}, "
             f"{len(fixture.key_results):,} key results", database=options.database,
        headers=["round", "baseline req/s", "check-ins/s", "ratio", "baseline p50 ms",
                 "check-in p50 ms", "baseline CPU ms/req", "check-in CPU ms/req",
                 "of which relay", "baseline DB CPU", "check-in DB CPU", "load avg"],
        rows=rows,
        notes=["CPU ms/req: user + system CPU of the side's gunicorn (master and workers) "
               "and, for the check-ins, of the relay, per request (not the database's)",
               "DB CPU: ms per request of the PostgreSQL server processes connected to the "
               "benchmark's database (the relay's too), nan where they cannot be read; the "
               "load client's own CPU per request is in the JSON (client_cpu_ms_per_request)"],
        checks=[Check("median throughput ratio (check-ins / baseline inserts)", median_ratio,
                      f">= {THROUGHPUT_TARGET}", median_ratio >= THROUGHPUT_TARGET)],
        details={"baseline_per_second": rates["baseline"], "goals_per_second": rates["goals"],
                 "ratios": ratios, "median_ratio": median_ratio,
                 "spread": [min(ratios), max(ratios)], "load_averages": loads,
                 "cpu_ms_per_request": cpu_ms, "relay_cpu_ms_per_check_in": relay_cpu_ms,
                 "database_cpu_ms_per_request": database_cpu_ms,
                 "client_cpu_ms_per_request": client_cpu_ms,
                 "relay": options.relay, "key_results": len(fixture.key_results),
                 "p50_ms": p50s, "requests_per_side_per_round": options.requests},
    )


# -- 2. latency at a fixed rate --------------------------------------------------------------

def measure_latency(fixture: Fixture, options: CheckInBenchOptions) -> BenchResult:
    stats: dict[str, dict[str, float]] = {}
    for side in ("baseline", "goals"):
        server = _server(fixture, side)
        log(f"latency: {side} at {options.rate:.0f}/s for {options.duration:.0f} s")
        load = open_loop_load(server.host, server.port, _check_in_request(fixture, side),
                              rate=options.rate, duration=options.duration,
                              headers=fixture.headers, expect=_created_status)
        _require_clean(load, side, "latency")
        stats[side] = {"count": float(load.requests),
                       "achieved_per_second": load.per_second,
                       "p50": _ms(percentile(load.latencies, 0.5)),
                       "p90": _ms(percentile(load.latencies, 0.9)),
                       "p99": _ms(percentile(load.latencies, 0.99)),
                       "max": _ms(max(load.latencies))}
        log(f"latency {side}: p50 {stats[side]['p50']:.2f} ms, p99 {stats[side]['p99']:.2f} ms")
    rows = [[side, f"{s['count']:.0f}", fmt(s["achieved_per_second"]), fmt(s["p50"], 2),
             fmt(s["p90"], 2), fmt(s["p99"], 2), fmt(s["max"], 2)] for side, s in stats.items()]
    p50_ratio = ratio(stats["goals"]["p50"], stats["baseline"]["p50"])
    p99_ratio = ratio(stats["goals"]["p99"], stats["baseline"]["p99"])
    rows.append(["goals / baseline", "", "", f"{p50_ratio:.2f}x", "", f"{p99_ratio:.2f}x", ""])
    return BenchResult(
        name=f"check-in latency at {options.rate:.0f} requests/s (open loop)",
        database=options.database,
        headers=["side", "requests", "achieved/s", "p50 ms", "p90 ms", "p99 ms", "max ms"],
        rows=rows,
        details={"stats": stats, "p50_ratio": p50_ratio, "p99_ratio": p99_ratio,
                 "rate": options.rate, "duration": options.duration},
        notes=["latency runs from when each request was due (no coordinated omission)"],
    )


# -- 3. batches ------------------------------------------------------------------------------

def measure_batches(fixture: Fixture, options: CheckInBenchOptions,
                    single_per_second: float | None) -> BenchResult:
    rows: list[list[str]] = []
    details: dict[str, Any] = {}
    for size in options.batch_sizes:
        batches = max(options.batch_clients, options.batch_items // size)
        per_second: dict[str, float] = {}
        for side in ("baseline", "goals"):
            server = _server(fixture, side)
            closed_loop(server.host, server.port, _batch_request(fixture, side, size),
                        clients=1, requests=1, time_limit=options.time_limit,
                        headers=fixture.headers)  # warm-up
            load = closed_loop(server.host, server.port, _batch_request(fixture, side, size),
                               clients=options.batch_clients, requests=batches,
                               time_limit=options.time_limit, headers=fixture.headers,
                               expect=_batch_applied(size))
            _require_clean(load, side, f"batch of {size}")
            per_second[side] = load.requests * size / load.seconds
            log(f"batch {size} {side}: {load.requests} batches in {load.seconds:.2f} s = "
                f"{per_second[side]:,.0f} rows/s (p50 {_ms(percentile(load.latencies, .5)):.0f}"
                f" ms per batch)")
            details[f"{side}_{size}"] = {"batches": load.requests, "seconds": load.seconds,
                                         "per_second": per_second[side],
                                         "p50_ms": _ms(percentile(load.latencies, 0.5))}
        batch_ratio = ratio(per_second["goals"], per_second["baseline"])
        speedup = ratio(per_second["goals"], single_per_second) if single_per_second else \
            float("nan")
        details[f"ratio_{size}"] = batch_ratio
        details[f"speedup_over_single_{size}"] = speedup
        rows.append([f"{size:,}", fmt(per_second["baseline"]), fmt(per_second["goals"]),
                     f"{batch_ratio:.3f}", fmt(speedup, 2)])
    return BenchResult(
        name=f"batch check-ins, {options.batch_clients} clients", database=options.database,
        headers=["batch size", "baseline rows/s", "check-ins/s", "ratio",
                 "x single check-ins/s"],
        rows=rows, details=details,
        notes=["baseline: the same rows in one INSERT ... executemany per batch"])


# -- running -------------------------------------------------------------------------------

BENCHMARKS = ("throughput", "latency", "batch")


def run_checkin_benchmarks(options: CheckInBenchOptions) -> list[BenchResult]:
    results: list[BenchResult] = []
    with running(options) as fixture:
        single: float | None = None
        if "throughput" not in options.skip:
            results.append(measure_throughput(fixture, options))
            single = median(results[-1].details["goals_per_second"])
            print(render(results[-1]) + "\n", flush=True)
        if "latency" not in options.skip:
            results.append(measure_latency(fixture, options))
            print(render(results[-1]) + "\n", flush=True)
        if "batch" not in options.skip:
            results.append(measure_batches(fixture, options, single))
            print(render(results[-1]) + "\n", flush=True)
    return results


def write_checkin_results(results: Sequence[BenchResult], options: CheckInBenchOptions) -> str:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"checkins-{stamp}.json"
    document = {
        "started_at": stamp, "options": asdict(options),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_average": list(os.getloadavg())},
        "results": [result.to_dict() for result in results],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return str(path)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.checkins",
                                description="Check-in benchmarks through gunicorn, each "
                                            "against a baseline app of the same run.")
    p.add_argument("--quick", action="store_true", help="short run (about a minute)")
    p.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--skip", action="append", choices=BENCHMARKS, default=[])
    p.add_argument("--workers", type=int, help="gunicorn workers, both sides (default 2)")
    p.add_argument("--threads", type=int, help="gunicorn threads, both sides (default 8)")
    p.add_argument("--clients", type=int, help="concurrent clients (default 16)")
    p.add_argument("--requests", type=int, help="throughput: requests per side per round")
    p.add_argument("--rounds", type=int, help="throughput rounds (default 5; quick 1)")
    p.add_argument("--key-results", type=int,
                   help="key results in the goals database (default 10,000; quick 1,000)")
    p.add_argument("--no-relay", action="store_true",
                   help="no broker and no okr-goals relay beside the API (the events stay "
                        "in the outbox)")
    p.add_argument("--rate", type=float, help="latency: requests/s (default 100)")
    p.add_argument("--duration", type=float, help="latency: seconds per side (default 20)")
    p.add_argument("--batch-items", type=int, help="batch: check-ins per size per side")
    p.add_argument("--admin-token", action="store_true",
                   help="authenticate with OKR_ADMIN_TOKEN (no token lookup) instead of a "
                        "minted head token")
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    overrides = {name: value for name, value in {
        "database": args.database, "workers": args.workers, "threads": args.threads,
        "clients": args.clients, "requests": args.requests, "rounds": args.rounds,
        "rate": args.rate, "duration": args.duration, "batch_items": args.batch_items,
        "admin_token": args.admin_token or None, "skip": tuple(args.skip) or None,
        "key_results": args.key_results, "relay": False if args.no_relay else None,
    }.items() if value is not None}
    options = (CheckInBenchOptions.quick(**overrides) if args.quick
               else CheckInBenchOptions(**overrides))
    if options.database == "postgresql" and (reason := postgres_reachable()) is not None:
        log(f"PostgreSQL unreachable ({reason}); set OKR_TEST_POSTGRES_URL")
        return 2
    started = time.monotonic()
    results = run_checkin_benchmarks(options)
    log(f"check-in benchmarks done in {time.monotonic() - started:.0f} s")
    if not args.no_json:
        print(f"results written to {write_checkin_results(results, options)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
