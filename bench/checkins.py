"""Check-in benchmarks through the real HTTP server (gunicorn) on PostgreSQL.

``python -m bench.checkins`` (or ``python -m bench checkins``; ``--quick`` for a short run,
``--help`` for the options) measures, in one run and on one freshly created database:

1. **throughput**: check-ins per second (``POST /v1/key-results/{id}/check-ins``) from N
   concurrent keep-alive clients, against the baseline app (``bench/checkin_baseline.py``:
   one INSERT with SQLAlchemy per request) served by gunicorn with the same workers and
   threads (default 2 workers x 8 threads on both sides, printed with the results; the
   platform's ``okr-goals serve`` runs 2 x 4) and driven by the same client; rounds
   alternate which side goes first; the result is the median ratio goals / baseline
   (target >= 0.5);
2. **latency**: p50 and p99 of check-ins at a fixed rate (open loop, 100 requests/s by
   default), measured from when each request was due, next to the baseline's at the same
   rate;
3. **batch**: check-ins per second through ``POST /v1/check-ins/batch`` at batches of 100
   and 1,000, against the baseline's one-transaction batch insert of the same rows.

The clients authenticate with a minted head token (one token lookup per request, as an
automated system would), unless ``--admin-token``. The outbox relay is not running: the
benchmark measures the write path, the events stay in the outbox. Results are printed as
tables (progress on stderr) and written to ``bench/results/checkins-<time>.json``.
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
from typing import Any

from bench.checkin_baseline import create_scratch_table
from bench.common import (
    RESULTS_DIR,
    BenchResult,
    Check,
    fmt,
    goals_database,
    log,
    median,
    percentile,
    postgres_reachable,
    ratio,
    render,
)
from bench.http_load import GOALS_WSGI, HttpClient, LoadResult, Server, closed_loop, gunicorn
from bench.http_load import open_loop as open_loop_load
from services.goals.bootstrap import bootstrap
from services.goals.config import GoalsConfig
from services.goals.service_layer.reference_data import seed_default_departments
from shared.persistence.engine import create_database_engine

ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
BASELINE_WSGI = "bench.checkin_baseline:app"
CYCLE = "2026-Q4"
THROUGHPUT_TARGET = 0.5


@dataclass(frozen=True)
class CheckInBenchOptions:
    database: str = "postgresql"
    workers: int = 2
    threads: int = 8
    clients: int = 16
    requests: int = 3_000          # per side per round (throughput)
    rounds: int = 3
    warmup: int = 200              # per side, before the first round
    rate: float = 100.0            # latency: requests/s
    duration: float = 20.0         # latency: seconds per side
    batch_sizes: tuple[int, ...] = (100, 1_000)
    batch_items: int = 20_000      # check-ins per batch size per side
    batch_clients: int = 2
    key_results: int = 32
    time_limit: float = 120.0      # seconds per measured side, at most
    admin_token: bool = False
    skip: tuple[str, ...] = ()
    goals_wsgi: str = GOALS_WSGI   # another entry point, to profile a variant
    extra_env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def quick(cls, **overrides: Any) -> CheckInBenchOptions:
        values: dict[str, Any] = {"requests": 600, "rounds": 1, "warmup": 50, "duration": 5.0,
                                  "batch_items": 3_000, "time_limit": 60.0}
        values.update(overrides)
        return cls(**values)


# -- the environment: a database, the two servers, the seeded goals ----------------------

@dataclass
class Fixture:
    goals: Server
    baseline: Server
    token: str
    key_results: list[str]

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


def _seed(goals: Server, options: CheckInBenchOptions) -> tuple[str, list[str]]:
    """A cycle, sales objectives with ``options.key_results`` key results, a head token."""
    admin = HttpClient(goals.host, goals.port, {"Authorization": f"Bearer {ADMIN_TOKEN}"})
    try:
        _created(admin.request("POST", "/v1/cycles", {
            "key": CYCLE, "starts_on": "2026-10-01", "ends_on": "2026-12-31"}), "the cycle")
        token = ADMIN_TOKEN
        if not options.admin_token:
            token = _created(admin.request("POST", "/v1/tokens", {
                "name": "bench crm", "role": "head", "department": "sales"}), "a token")["token"]
        key_results = []
        objective_id = ""
        for number in range(options.key_results):
            if number % 8 == 0:
                objective_id = _created(admin.request("POST", "/v1/objectives", {
                    "cycle": CYCLE, "kind": "department", "departments": ["sales"],
                    "owner": "bench", "title": f"bench objective {number // 8}"}),
                    "an objective")["id"]
            key_results.append(_created(admin.request(
                "POST", f"/v1/objectives/{objective_id}/key-results",
                {"title": f"bench key result {number}", "measure": "increase", "start": 0,
                 "target": 1_000_000, "unit": "EUR"}), "a key result")["id"])
        return token, key_results
    finally:
        admin.close()


@contextlib.contextmanager
def running(options: CheckInBenchOptions) -> Iterator[Fixture]:
    """A fresh migrated database, the goals service and the baseline app on gunicorn."""
    with goals_database(options.database, "checkins") as url, \
            tempfile.TemporaryDirectory(prefix="okr-bench-checkins-") as data_dir:
        env = {"OKR_GOALS_DATABASE_URL": url, "OKR_ADMIN_TOKEN": ADMIN_TOKEN,
               "OKR_BENCH_DATABASE_URL": url, "OKR_DATA_DIR": data_dir,
               # No broker is needed on the write path (the relay is not running); this
               # address only serves /readyz, which the benchmark does not call.
               "OKR_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
               "OKR_LOG_LEVEL": "WARNING", "OKR_LOG_JSON": "true", **dict(options.extra_env)}
        container = bootstrap(GoalsConfig.from_env(env))
        try:
            seed_default_departments(container.unit_of_work())
        finally:
            container.engine.dispose()
        engine = create_database_engine(url)
        try:
            create_scratch_table(engine)
        finally:
            engine.dispose()
        settings = {"workers": options.workers, "threads": options.threads}
        with gunicorn(options.goals_wsgi, env, **settings) as goals, \
                gunicorn(BASELINE_WSGI, env, **settings) as baseline:
            log(f"goals on :{goals.port}, baseline on :{baseline.port} ({options.database}, "
                f"{options.workers} workers x {options.threads} threads)")
            token, key_results = _seed(goals, options)
            yield Fixture(goals=goals, baseline=baseline, token=token, key_results=key_results)


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
    ratios: list[float] = []
    rows: list[list[str]] = []
    for round_number in range(options.rounds):
        order = sides if round_number % 2 == 0 else sides[::-1]
        measured: dict[str, LoadResult] = {}
        for side in order:
            server = _server(fixture, side)
            load = closed_loop(server.host, server.port, _check_in_request(fixture, side),
                               clients=options.clients, requests=options.requests,
                               time_limit=options.time_limit, headers=fixture.headers,
                               expect=_created_status)
            _require_clean(load, side, "throughput")
            measured[side] = load
            rates[side].append(load.per_second)
            p50s[side].append(_ms(percentile(load.latencies, 0.5)))
            log(f"throughput round {round_number + 1}/{options.rounds} {side}: "
                f"{load.requests} requests in {load.seconds:.2f} s = {load.per_second:,.0f}/s")
        ratios.append(ratio(measured["goals"].per_second, measured["baseline"].per_second))
        rows.append([f"round {round_number + 1}", fmt(measured["baseline"].per_second),
                     fmt(measured["goals"].per_second), f"{ratios[-1]:.3f}",
                     fmt(_ms(percentile(measured["baseline"].latencies, 0.5)), 2),
                     fmt(_ms(percentile(measured["goals"].latencies, 0.5)), 2)])
    median_ratio = median(ratios)
    return BenchResult(
        name=f"check-in throughput, {options.clients} clients, gunicorn {options.workers} "
             f"workers x {options.threads} threads (both sides)", database=options.database,
        headers=["round", "baseline req/s", "check-ins/s", "ratio", "baseline p50 ms",
                 "check-in p50 ms"],
        rows=rows,
        checks=[Check("median throughput ratio (check-ins / baseline inserts)", median_ratio,
                      f">= {THROUGHPUT_TARGET}", median_ratio >= THROUGHPUT_TARGET)],
        details={"baseline_per_second": rates["baseline"], "goals_per_second": rates["goals"],
                 "ratios": ratios, "median_ratio": median_ratio,
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
    p.add_argument("--rounds", type=int, help="throughput rounds (default 3; quick 1)")
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
