"""Benchmarks of the explanation (``python -m bench explain``; docs/explain.md), each beside
a baseline of the same run:

* ``GET /v1/rollups/{id}/explain``'s query (``ExplainQueries.explain``) of a collective
  target with 1,001 descendants, in a read model of N key results (100,000 by default;
  1,000,000 with ``--key-results 1000000``), p50 / p95 ms, beside the roll-up tree of the
  same target (``RollupQueries.tree`` at depth 5) (target: p95 < 50 ms);
* the consumer's throughput (check-in batches decoded, applied, written and published in
  one transaction each) with forecasts (check-in windows kept, forecast and why on the
  events) beside the same projection without (target ratio >= 0.7).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.common import BenchResult, Check, log, percentile, render
from bench.metrics import metrics_config, metrics_database
from services.metrics.adapters import tables
from services.metrics.adapters.explain_queries import ExplainQueries
from services.metrics.adapters.rollup_queries import RollupQueries
from services.metrics.bootstrap import bootstrap
from shared.cloudevents import CloudEvent, new_event
from shared.config import KafkaSettings
from shared.contract import EventType
from shared.persistence.engine import writing

CYCLE_STARTS, CYCLE_ENDS = date(2026, 10, 1), date(2026, 12, 31)
NOW = datetime(2026, 11, 29, tzinfo=UTC)
TARGET_OBJECTIVES, KEY_RESULTS_EACH = 10, 99  # + the target's summing key result: 1,001
FILLER_PER_OBJECTIVE = 10
NO_KAFKA = KafkaSettings("127.0.0.1:9", 1, 1, 1, 1, 1)


def _window(rng: random.Random) -> tuple[str, float, float]:
    """A key result's 12 weekly check-ins (JSON: time, value, version), its last time and
    value."""
    pace = rng.uniform(2.0, 9.0)
    start = datetime(2026, 10, 3, tzinfo=UTC).timestamp()
    points = [(start + week * 7 * 86_400, round(pace * (week + 1) + rng.uniform(-3, 3), 2),
               week + 2) for week in range(12)]
    return json.dumps(points), points[-1][0], points[-1][1]


def fill(url: str, key_results: int) -> None:
    """The target's subtree, a production objective it depends on, and filler objectives
    of ten key results each up to ``key_results``, written straight into the read model."""
    metrics = bootstrap(metrics_config(url, NO_KAFKA))
    rng = random.Random(15)
    now = datetime.now(UTC)
    objectives: list[dict[str, Any]] = []
    krs: list[dict[str, Any]] = []
    contributions: list[dict[str, Any]] = []

    def objective(oid: str, departments: str, kind: str, progress: float) -> None:
        objectives.append({"id": oid, "version": 1, "cycle": "2026-Q4", "kind": kind,
                           "departments": departments, "title": oid, "archived": False,
                           "progress": progress, "attainment": progress, "confidence": 0.7,
                           "status": "on_track", "updated_at": now})

    def key_result(kid: str, oid: str, aggregation: str = "check_ins") -> float:
        history, at, value = _window(rng)
        krs.append({"id": kid, "version": 13, "objective_id": oid, "title": kid,
                    "measure": "increase", "aggregation": aggregation, "start": 0.0,
                    "target": 100.0, "unit": "", "weight": 1.0, "checked_in": value,
                    "given_confidence": 0.7, "last_checkin_at": at, "value": value,
                    "progress": min(1.0, value / 100), "attainment": value / 100,
                    "confidence": 0.7, "check_ins": history})
        return value

    objective("target", "marketing+sales", "collective", 0.6)
    key_result("revenue", "target", "sum")
    objective("production", "production", "department", 0.1)
    objectives[-1]["status"] = "off_track"
    for o in range(TARGET_OBJECTIVES):
        oid = f"dept-{o}"
        objective(oid, "sales" if o % 2 else "marketing", "department", 0.6)
        contributions.append({"id": f"c-{oid}", "version": 1, "child_type": "objective",
                              "child_id": oid, "parent_type": "objective",
                              "parent_id": "target", "weight": 1.0 + o % 3})
        for k in range(KEY_RESULTS_EACH):
            key_result(f"{oid}-kr{k}", oid)
        contributions.append({"id": f"c-{oid}-rev", "version": 1, "child_type": "key_result",
                              "child_id": f"{oid}-kr0", "parent_type": "key_result",
                              "parent_id": "revenue", "weight": 1.0})
    links = [{"id": f"l{o}", "version": 1, "kind": "supplied_by", "from_type": "objective",
              "from_id": f"dept-{o}", "from_department": "sales", "to_type": "objective",
              "to_id": "production", "to_department": "production"} for o in range(3)]
    with metrics.engine.begin() as connection:
        connection.execute(tables.cycles.insert(), [{"key": "2026-Q4", "version": 1,
                                                     "starts_on": CYCLE_STARTS,
                                                     "ends_on": CYCLE_ENDS}])
        connection.execute(tables.objectives.insert(), objectives)
        connection.execute(tables.key_results.insert(), krs)
        connection.execute(tables.contributions.insert(), contributions)
        connection.execute(tables.links.insert(), links)
        filler = max(0, key_results - len(krs))
        for start in range(0, filler // FILLER_PER_OBJECTIVE, 10_000):
            stop = min(filler // FILLER_PER_OBJECTIVE, start + 10_000)
            connection.execute(tables.objectives.insert(), [{
                "id": str(uuid.UUID(int=o)), "version": 1, "cycle": "2026-Q4",
                "kind": "department", "departments": "finance", "title": "filler",
                "archived": False, "progress": 0.5, "attainment": 0.5, "confidence": 0.7,
                "status": "on_track", "updated_at": now} for o in range(start, stop)])
            connection.execute(tables.key_results.insert(), [{
                "id": str(uuid.uuid4()), "version": 2, "objective_id": str(uuid.UUID(int=o)),
                "title": "filler", "measure": "increase", "aggregation": "check_ins",
                "start": 0.0, "target": 100.0, "unit": "", "weight": 1.0, "checked_in": 50.0,
                "given_confidence": 0.7, "last_checkin_at": 1.8e9, "value": 50.0,
                "progress": 0.5, "attainment": 0.5, "confidence": 0.7, "check_ins": None}
                for o in range(start, stop) for _ in range(FILLER_PER_OBJECTIVE)])
    metrics.engine.dispose()


def explain_latency(database: str, key_results: int, repeats: int) -> BenchResult:
    with metrics_database(database) as url:
        started = time.perf_counter()
        fill(url, key_results)
        filled = time.perf_counter() - started
        metrics = bootstrap(metrics_config(url, NO_KAFKA))
        explain = ExplainQueries(metrics.engine, 14 * 86_400.0, clock=lambda: NOW)
        tree = RollupQueries(metrics.engine, clock=lambda: NOW)
        found = explain.explain("target")
        assert found is not None and found[1].forecast.attainment is not None
        timings: dict[str, list[float]] = {"explain": [], "tree": []}
        for _ in range(repeats):  # interleaved: the machine's load drifts
            for name, call in (("explain", lambda: explain.explain("target")),
                               ("tree", lambda: tree.tree("target", 5))):
                begun = time.perf_counter()
                call()
                timings[name].append((time.perf_counter() - begun) * 1000)
        metrics.engine.dispose()
    rows = [[name, f"{percentile(values, 0.5):.1f}", f"{percentile(values, 0.95):.1f}"]
            for name, values in (("explain (GET .../explain)", timings["explain"]),
                                 ("baseline: roll-up tree, depth 5", timings["tree"]))]
    p95 = percentile(timings["explain"], 0.95)
    ratio = statistics.median(timings["explain"]) / statistics.median(timings["tree"])
    return BenchResult(
        f"explain of a collective target at {key_results:,} key results", database,
        ["query", "p50 ms", "p95 ms"], rows,
        [Check("explain p95 ms", p95, "< 50", p95 < 50),
         Check("explain / tree (p50)", ratio, "report", True)],
        details={"fill_seconds": filled, "explain_ms": timings["explain"],
                 "tree_ms": timings["tree"]},
        notes=[f"the target has {TARGET_OBJECTIVES} objectives of {KEY_RESULTS_EACH} key "
               "results and a summing key result (1,001 descendants), every key result with "
               f"12 weekly check-ins; {repeats} calls each, interleaved; the read model was "
               f"filled in {filled:.0f} s"])


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
    args = parser.parse_args(argv)
    if args.only == "latency":
        log("explain latency")
        print(render(explain_latency(args.database, args.key_results or (
            10_000 if args.quick else 100_000), 20 if args.quick else 100)))
    elif args.only == "throughput":
        log("consumer throughput with and without forecasts")
        print(render(consumer_throughput(args.database, 2_000 if args.quick else 10_000,
                                         1 if args.quick else 3, 500)))
    else:
        explain_summary(args.database, args.quick, args.key_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
