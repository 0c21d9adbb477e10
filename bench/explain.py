"""Benchmarks of the explanation (``python -m bench explain``; docs/explain.md), each beside
a baseline of the same run:

* ``GET /v1/rollups/{id}/explain`` over HTTP, served by ``okr-metrics serve`` as deployed,
  of a collective target with 1,051 descendants and of smaller objectives, in a read model
  of N key results written in bulk (``bench/explain_read_model.py``; 100,000 by default,
  1,000,000 with ``--key-results 1000000``), p50 / p95 / p99 ms, beside ``GET
  /v1/rollups/{id}`` of the same target, interleaved (target: p95 < 50 ms); the metrics
  API workers' RSS;
* the consumer's throughput (check-in batches decoded, applied, written and published in
  one transaction each) with forecasts (check-in windows kept, forecast and why on the
  events) beside the same projection without (target ratio >= 0.7).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.pool import StaticPool

from bench.common import (
    BenchResult,
    Check,
    free_port,
    goals_database,
    log,
    percentile,
    render,
)
from bench.explain_read_model import Featured, build, featured_in
from bench.http_load import (
    GOALS_WSGI,
    HttpClient,
    gunicorn,
    resident_kib,
    service,
    workers_of,
)
from bench.metrics import kept_database, metrics_config, metrics_database
from services.metrics.adapters import tables
from services.metrics.adapters.explain_queries import ExplainQueries
from services.metrics.bootstrap import bootstrap
from shared.cloudevents import CloudEvent, new_event
from shared.config import KafkaSettings
from shared.contract import EventType
from shared.persistence.engine import create_database_engine, writing

CYCLE_STARTS, CYCLE_ENDS = date(2026, 10, 1), date(2026, 12, 31)
TARGET_OBJECTIVES, KEY_RESULTS_EACH = 10, 99  # the consumer benchmark's target: 1,001 items
NO_KAFKA = KafkaSettings("127.0.0.1:9", 1, 1, 1, 1, 1)
TOKEN = "bench-explain-admin-token-0123456789"
WARMUP = 5  # calls of each path first: the token cache, each statement prepared
TARGET_P95_MS = 50.0


def _paths(featured: Featured) -> dict[str, str]:
    return {
        "explain: the collective target (1,051 descendants)":
            f"/v1/rollups/{featured.target}/explain",
        "explain: one of its department objectives (104)":
            f"/v1/rollups/{featured.department}/explain",
        "explain: a team objective (10)": f"/v1/rollups/{featured.team}/explain",
        "explain: a filler collective target (~100)":
            f"/v1/rollups/{featured.filler_target}/explain",
        "baseline: GET /v1/rollups/{target}": f"/v1/rollups/{featured.target}",
    }


def _get(client: HttpClient, path: str) -> Any:
    reply = client.request("GET", path)
    if reply.status != 200:
        raise RuntimeError(f"GET {path}: {reply.status} {reply.body[:300]!r}")
    return reply.json()


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _backend_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process on this machine has used (``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _in_process(engine: Engine, objective_id: str, repeats: int
                ) -> tuple[list[float], dict[str, float]]:
    """``ExplainQueries.explain`` in this process on one connection: wall ms per call, and
    CPU ms per call of this process and of its PostgreSQL backend (a figure the machine's
    load changes little; NaN when the backend is not a process of this machine)."""
    single = create_database_engine(engine.url.render_as_string(hide_password=False),
                                    poolclass=StaticPool)
    try:
        backend = None
        if single.dialect.name == "postgresql":
            with single.connect() as connection:
                backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        queries = ExplainQueries(single, 14 * 86_400.0)
        queries.explain(objective_id)
        try:
            backend_before = _backend_cpu_seconds(backend) if backend else 0.0
        except OSError:
            backend = None
        process_before = time.process_time()
        timings = []
        for _ in range(repeats):
            begun = time.perf_counter()
            queries.explain(objective_id)
            timings.append((time.perf_counter() - begun) * 1000)
        process = (time.process_time() - process_before) * 1000 / repeats
        backend_ms = (0.0 if single.dialect.name != "postgresql" else math.nan
                      if backend is None else
                      (_backend_cpu_seconds(backend) - backend_before) * 1000 / repeats)
    finally:
        single.dispose()
    return timings, {"process": process, "backend": backend_ms}


def _served_cpu_seconds(server: Any) -> float:
    """CPU seconds the workers of a gunicorn server have used."""
    return sum(_backend_cpu_seconds(pid) for pid in workers_of(server))


def _side_by_side(client: HttpClient, other: HttpClient, servers: tuple[Any, Any], path: str,
                  repeats: int) -> tuple[list[float], list[float], dict[str, float]]:
    """``path`` from this tree's API and from another checkout's serving the same database,
    alternated: wall ms of each, and the CPU ms per call of each one's workers."""
    for _ in range(WARMUP):
        _get(client, path), _get(other, path)
    before = [_served_cpu_seconds(server) for server in servers]
    timings: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for number, answering in enumerate((client, other)):
            begun = time.perf_counter()
            _get(answering, path)
            timings[number].append((time.perf_counter() - begun) * 1000)
    after = [_served_cpu_seconds(server) for server in servers]
    cpu = {name: (spent - began) * 1000 / repeats
           for name, spent, began in zip(("this", "against"), after, before, strict=True)}
    return timings[0], timings[1], cpu


def explain_latency(database: str, key_results: int, repeats: int,
                    reuse: str | None = None, against: str | None = None) -> BenchResult:
    """``GET /v1/rollups/{id}/explain`` over HTTP from ``okr-metrics serve`` (gunicorn as
    deployed, its tokens checked with a goals API), on a read model of ``key_results``
    key results, beside ``GET /v1/rollups/{id}`` of the same target, interleaved.
    ``reuse``: the name of a PostgreSQL database to keep the read model in between runs
    (built the first time, whatever ``key_results`` says afterwards). ``against``: another
    checkout (e.g. a worktree of main) whose metrics API serves the same read model, its
    explain of the target timed alternated with this tree's, with each one's workers' CPU
    per call."""
    with contextlib.ExitStack() as stack:
        url = (kept_database(reuse) if reuse
               else stack.enter_context(metrics_database(database)))
        goals_url = stack.enter_context(goals_database(database, "explain"))
        engine = create_database_engine(url)
        stack.callback(engine.dispose)
        started = time.perf_counter()
        featured = featured_in(engine) if reuse else None
        if featured is None:
            log(f"building a read model of {key_results:,} key results ({database})")
            featured = build(engine, key_results, datetime.now(UTC), log)
            log(f"  built in {time.perf_counter() - started:.0f} s: {featured.counts}")
        else:
            log(f"reusing the read model in {reuse}: {featured.counts}")
        filled = time.perf_counter() - started
        quiet = {"OKR_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "OKR_LOG_LEVEL": "WARNING",
                 "OKR_LOG_JSON": "false"}
        goals = stack.enter_context(gunicorn(GOALS_WSGI, {
            **quiet, "OKR_GOALS_DATABASE_URL": goals_url, "OKR_ADMIN_TOKEN": TOKEN},
            workers=1, threads=2))
        port = free_port()
        metrics_api = stack.enter_context(service(["okr-metrics", "serve"], {
            **quiet, "OKR_METRICS_DATABASE_URL": url, "OKR_METRICS_PORT": str(port),
            "OKR_GOALS_URL": f"http://{goals.host}:{goals.port}"}, port))
        client = HttpClient(metrics_api.host, metrics_api.port,
                            {"Authorization": f"Bearer {TOKEN}"})
        stack.callback(client.close)
        paths = _paths(featured)
        for path in paths.values():
            for _ in range(WARMUP):
                _get(client, path)
        target = _get(client, paths["explain: the collective target (1,051 descendants)"])
        assert target["forecast"]["attainment"] is not None and target["dependencies_at_risk"]
        log(f"timing {repeats} rounds of {len(paths)} calls, interleaved")
        loads = [_load()]
        timings: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(repeats):  # interleaved: the machine's load drifts
            for name, path in paths.items():
                begun = time.perf_counter()
                _get(client, path)
                timings[name].append((time.perf_counter() - begun) * 1000)
        loads.append(_load())
        in_process, cpu = _in_process(engine, featured.target, repeats)
        timings["the explain query of the target in this process (no HTTP)"] = in_process
        loads.append(_load())
        if against:
            log(f"timing the target's explain alternated with {against}'s")
            other_port = free_port()
            other_api = stack.enter_context(service(["okr-metrics", "serve"], {
                **quiet, "OKR_METRICS_DATABASE_URL": url, "OKR_METRICS_PORT": str(other_port),
                "OKR_GOALS_URL": f"http://{goals.host}:{goals.port}"}, other_port,
                checkout=Path(against)))
            other = HttpClient(other_api.host, other_api.port,
                               {"Authorization": f"Bearer {TOKEN}"})
            stack.callback(other.close)
            target_path = paths["explain: the collective target (1,051 descendants)"]
            mine, theirs, served = _side_by_side(client, other, (metrics_api, other_api),
                                                 target_path, repeats)
            timings["explain of the target, alternated: this tree"] = mine
            timings[f"explain of the target, alternated: {against}"] = theirs
            cpu.update({"served by this tree": served["this"],
                        f"served by {against}": served["against"]})
            loads.append(_load())
        resident = {pid: resident_kib(pid) for pid in workers_of(metrics_api)}
    rows = [[name, f"{percentile(values, 0.5):.1f}", f"{percentile(values, 0.95):.1f}",
             f"{percentile(values, 0.99):.1f}"] for name, values in timings.items()]
    explained = timings["explain: the collective target (1,051 descendants)"]
    baseline = timings["baseline: GET /v1/rollups/{target}"]
    p95 = percentile(explained, 0.95)
    ratio = statistics.median(explained) / statistics.median(baseline)
    peak = max((kib.get("VmHWM", 0) for kib in resident.values()), default=0)
    return BenchResult(
        f"explain over HTTP at {featured.counts['key_results']:,} key results", database,
        ["call", "p50 ms", "p95 ms", "p99 ms"], rows,
        [Check("explain of the target, p95 ms", p95, f"< {TARGET_P95_MS:g}",
               p95 < TARGET_P95_MS),
         Check("explain / baseline (p50)", ratio, "report", True),
         Check("CPU ms per explain of the target: this process", cpu["process"], "report",
               True),
         *([Check("CPU ms per explain of the target: its PostgreSQL backend",
                  cpu["backend"], "report", True)] if database == "postgresql" else []),
         *([Check("CPU ms per served explain of the target (workers): this tree",
                  cpu["served by this tree"], "report", True),
            Check(f"CPU ms per served explain of the target (workers): {against}",
                  cpu[f"served by {against}"], "report", True),
            Check("served CPU this tree / against", cpu["served by this tree"]
                  / cpu[f"served by {against}"], "report", True)] if against else []),
         Check("metrics API worker peak RSS MiB", peak / 1024, "report", True)],
        details={"fill_seconds": filled, "counts": featured.counts, "timings_ms": timings,
                 "cpu_ms_per_call": cpu,
                 "load_average": loads, "worker_rss_kib": resident},
        notes=[f"okr-metrics serve (gunicorn, 2 workers x 4 threads), one keep-alive client; "
               f"{repeats} rounds after {WARMUP} warm-up calls of each; load average "
               f"(1/5/15 min) before, after HTTP, after in-process"
               f"{', after the alternated rounds' if against else ''}: {' | '.join(loads)}",
               f"read model of {featured.counts['key_results']:,} key results, "
               f"{featured.counts['objectives']:,} objectives, "
               f"{featured.counts['contributions']:,} contributions, "
               f"{featured.counts['links']:,} links, built in {filled:.0f} s",
               "metrics API workers' RSS (KiB, now / peak): " + ", ".join(
                   f"{kib.get('VmRSS')} / {kib.get('VmHWM')}" for kib in resident.values())])


# -- the consumer with and without forecasts ----------------------------------------------------

AT = "2026-11-02T09:30:00Z"


def _event(event_type: EventType, data: dict[str, Any]) -> CloudEvent:
    return new_event(event_type, "/okr/goals", "bench", data)


def _kr(kid: str, oid: str, version: int, value: float | None, at: str | None,
        aggregation: str = "check_ins") -> dict[str, Any]:
    return {"id": kid, "objective_id": oid, "version": version, "title": kid,
            "measure": "increase", "start": 0, "target": 100, "unit": "", "weight": 1,
            "aggregation": aggregation, "current": 0 if value is None else value,
            "confidence": 0.6, "last_checkin_at": at, "created_at": AT, "updated_at": AT}


def consumer_events(check_ins: int) -> tuple[list[CloudEvent], list[CloudEvent]]:
    """(setup, check-ins): the target's subtree, then check-ins of its key results, each on a
    day of its own so the windows fill."""
    setup = [_event(EventType.CYCLE_CREATED, {
        "key": "2026-Q4", "name": "Q4", "starts_on": CYCLE_STARTS.isoformat(),
        "ends_on": CYCLE_ENDS.isoformat(), "version": 1, "created_at": AT, "updated_at": AT})]

    def objective(oid: str, departments: list[str]) -> None:
        setup.append(_event(EventType.OBJECTIVE_CREATED, {
            "id": oid, "version": 1, "cycle": "2026-Q4",
            "kind": "collective" if len(departments) > 1 else "department",
            "departments": departments, "owner": "o", "title": oid, "description": "",
            "status": "active", "created_at": AT, "updated_at": AT}))

    def contribution(cid: str, child_type: str, child: str, parent_type: str,
                     parent: str) -> None:
        setup.append(_event(EventType.CONTRIBUTION_ADDED, {
            "id": cid, "version": 1, "child_type": child_type, "child_id": child,
            "parent_type": parent_type, "parent_id": parent, "weight": 1,
            "created_by": "bench", "created_at": AT}))

    objective("target", ["marketing", "sales"])
    setup.append(_event(EventType.KEY_RESULT_CREATED, _kr("revenue", "target", 1, None, None,
                                                          "sum")))
    key_results: list[tuple[str, str]] = []
    for o in range(TARGET_OBJECTIVES):
        oid = f"dept-{o}"
        objective(oid, ["sales" if o % 2 else "marketing"])
        contribution(f"c-{oid}", "objective", oid, "objective", "target")
        for k in range(KEY_RESULTS_EACH):
            kid = f"{oid}-kr{k}"
            setup.append(_event(EventType.KEY_RESULT_CREATED, _kr(kid, oid, 1, None, None)))
            key_results.append((kid, oid))
        contribution(f"c-{oid}-rev", "key_result", f"{oid}-kr0", "key_result", "revenue")
    rng = random.Random(15)
    versions = {kid: 1 for kid, _ in key_results}
    events = []
    for number in range(check_ins):
        kid, oid = rng.choice(key_results)
        versions[kid] += 1
        day = datetime(2026, 10, 2, 9, tzinfo=UTC) + timedelta(days=versions[kid] % 60)
        stamp = day.isoformat().replace("+00:00", "Z")
        value = float(versions[kid] * 3 % 100)
        events.append(_event(EventType.KEY_RESULT_CHECKED_IN, {
            "key_result": _kr(kid, oid, versions[kid], value, stamp),
            "check_in": {"id": str(uuid.UUID(int=number)), "key_result_id": kid,
                         "value": value, "confidence": 0.6, "note": "", "author": "b",
                         "source": "system", "created_at": stamp}}))
    return setup, events


def _consume(url: str, forecasts: bool, setup: list[CloudEvent], events: list[CloudEvent],
             batch: int) -> float:
    metrics = bootstrap(metrics_config(url, NO_KAFKA))
    with metrics.engine.begin() as connection:
        for table in reversed(tables.READ_MODEL_TABLES):
            connection.execute(table.delete())
        connection.execute(tables.plumbing.outbox.delete())
    projection = metrics.projection(forecasts=forecasts)
    projection.load()
    with writing(metrics.engine).begin() as connection:
        projection.apply(setup, connection)
    started = time.perf_counter()
    for start in range(0, len(events), batch):
        with writing(metrics.engine).begin() as connection:
            projection.apply(events[start:start + batch], connection)
    elapsed = time.perf_counter() - started
    metrics.engine.dispose()
    return len(events) / elapsed


def consumer_throughput(database: str, check_ins: int, rounds: int, batch: int) -> BenchResult:
    setup, events = consumer_events(check_ins)
    rates: dict[bool, list[float]] = {True: [], False: []}
    with metrics_database(database) as url:
        for _ in range(rounds):  # alternated: the machine's load drifts
            for forecasts in (False, True):
                rates[forecasts].append(_consume(url, forecasts, setup, events, batch))
    with_, without = statistics.median(rates[True]), statistics.median(rates[False])
    ratio = with_ / without
    return BenchResult(
        "metrics consumer with forecasts kept incrementally", database,
        ["projection", "check-ins", "events/s (median)"],
        [["without forecasts (baseline)", f"{check_ins:,}", f"{without:,.0f}"],
         ["with forecasts, forecast and why on the events", f"{check_ins:,}", f"{with_:,.0f}"]],
        [Check("with / without", ratio, ">= 0.7", ratio >= 0.7)],
        details={"rates": {"with": rates[True], "without": rates[False]}},
        notes=[f"check-ins of the target's 990 key results in batches of {batch}, each batch "
               "decoded, applied, written and its roll-up events appended in one "
               f"transaction (no broker: the consumer's own work); {rounds} rounds, "
               "alternated"])


def explain_summary(database: str, quick: bool = False,
                    key_results: int | None = None) -> BenchResult:
    """Both explain benchmarks (each printed), as one result for bench.cli."""
    results = [
        explain_latency(database, key_results or (10_000 if quick else 100_000),
                        20 if quick else 100),
        consumer_throughput(database, 2_000 if quick else 10_000, 1 if quick else 3, 500),
    ]
    for result in results:
        print(render(result) + "\n", flush=True)
    return BenchResult("explain (summary)", database, ["benchmark", "checks met"],
                       [[r.name, f"{sum(c.met for c in r.checks)}/{len(r.checks)}"]
                        for r in results],
                       [check for r in results for check in r.checks])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench explain", description=__doc__)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--quick", action="store_true", help="small sizes for a fast look")
    parser.add_argument("--key-results", type=int,
                        help="key results in the read model (default 100,000; quick 10,000)")
    parser.add_argument("--only", choices=("latency", "throughput"))
    parser.add_argument("--against", metavar="CHECKOUT",
                        help="latency: also serve the read model from this other checkout "
                             "(e.g. a worktree of main) and time the target's explain "
                             "alternated with this tree's, with each one's CPU per call")
    parser.add_argument("--reuse", metavar="DATABASE",
                        help="latency on PostgreSQL: keep the read model in this database "
                             "between runs (built the first time; drop it by hand)")
    args = parser.parse_args(argv)
    if args.reuse and args.database != "postgresql":
        parser.error("--reuse needs --database postgresql")
    if args.only == "latency":
        log("explain latency")
        print(render(explain_latency(args.database, args.key_results or (
            10_000 if args.quick else 100_000), 20 if args.quick else 100, args.reuse,
            args.against)))
    elif args.only == "throughput":
        log("consumer throughput with and without forecasts")
        print(render(consumer_throughput(args.database, 2_000 if args.quick else 10_000,
                                         1 if args.quick else 3, 500)))
    else:
        explain_summary(args.database, args.quick, args.key_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
