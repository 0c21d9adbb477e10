"""``python -m bench.coldstart``: the metrics consumer's cold start on a large read model
(issue 17, point 3: restarted at 1,000,000 key results, serving and caught up in under
60 s).

The read model is written straight into the database (``bench.metrics.fill_read_model``:
ten key results an objective, optionally each with a window of check-ins), and can be
kept across runs (``--keep-database``). Each round produces a night's batch of check-ins
(``--batch`` key results of the read model, each checked in once at its next version, as
an integration's nightly batch does) to ``okr.goals.v1`` while no consumer runs, then starts
``okr-metrics consume`` as a process of its own, as deployed, and reads its worker metrics
until the lag is 0 on every partition: from the process's start, until it serves its
worker metrics, until it reports its lag (the graph is loaded and the group joined), until
the lag is 0. With ``--baseline-tree DIR`` (a checkout of another commit, e.g. main's), the
rounds alternate between that code's consumer and this checkout's, on the same read model,
broker and consumer group. Peak RSS is the consumer process's ``VmHWM``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.common import (
    BenchResult,
    Check,
    free_port,
    kafka_environment,
    log,
    render,
    running_broker,
    stop,
    write_results,
)
from bench.company import GoalEvent
from bench.metrics import (
    KEY_RESULTS_PER_OBJECTIVE,
    fill_read_model,
    key_results_in,
    metrics_database,
)
from bench.scale import ConsumerRun, produce, watch_consumer
from shared.cloudevents import CloudEvent
from shared.contract import GOALS_SOURCE, EventType

TARGET_SECONDS = 60.0
NIGHT = 86_400.0
FIRST_NIGHT = 1.8e9 + NIGHT  # after the read model's latest check-ins (bench.metrics)


def night_batch(url: str, count: int, night: int) -> list[GoalEvent]:
    """A check-in of ``count`` key results of the read model (chosen at random), each at
    the version after the one the read model holds, at 02:00 of night ``night``."""
    at = datetime.fromtimestamp(FIRST_NIGHT + night * NIGHT, UTC)
    stamp = at.isoformat().replace("+00:00", "Z")
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT id, version, objective_id, title, measure, start, target, unit, weight, "
            "checked_in, given_confidence FROM key_results WHERE aggregation = 'check_ins' "
            "ORDER BY random() LIMIT %s", (count,)).fetchall()
    events = []
    for (key_result_id, version, objective_id, title, measure, start, target, unit, weight,
         checked_in, confidence) in rows:
        value = (checked_in if checked_in is not None else start) + 1.0
        state = {"id": key_result_id, "objective_id": objective_id, "version": version + 1,
                 "title": title, "measure": measure, "start": start, "target": target,
                 "unit": unit, "weight": weight, "aggregation": "check_ins",
                 "current": value, "confidence": confidence, "last_checkin_at": stamp,
                 "created_at": stamp, "updated_at": stamp}
        event = CloudEvent(type=EventType.KEY_RESULT_CHECKED_IN.value, source=GOALS_SOURCE,
                           subject=f"key_result/{key_result_id}", id=str(uuid.uuid4()),
                           time=at, data={"key_result": state, "check_in": {
                               "id": str(uuid.uuid4()), "key_result_id": key_result_id,
                               "value": value, "confidence": confidence, "note": "",
                               "author": "integration", "source": "system",
                               "created_at": stamp}})
        events.append(GoalEvent(objective_id, event.to_json(), event.id))
    return events


@contextlib.contextmanager
def consumer_process(tree: str | None, env: dict[str, str], log_path: Path
                     ) -> Iterator[subprocess.Popen[bytes]]:
    """``okr-metrics consume`` with the code of ``tree`` (None: this checkout)."""
    command = [sys.executable, "-c", "from services.metrics.entrypoints.cli import main; "
               "main(['consume'])"]
    extra = {} if tree is None else {"PYTHONPATH": tree}
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(command, env={**os.environ, **env, **extra},
                                   cwd=tree, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop(process, timeout=30)


def run_cold_starts(key_results: int, windows: int, batch: int, rounds: int,
                    baseline_tree: str | None, keep_database: str | None,
                    timeout: float = 900.0) -> BenchResult:
    trees: list[tuple[str, str | None]] = [("this checkout", None)]
    if baseline_tree is not None:
        trees.insert(0, ("baseline", baseline_tree))
    runs: dict[str, list[ConsumerRun]] = {name: [] for name, _ in trees}
    rows, loads = [], []
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(metrics_database("postgresql", keep_database))
        if key_results_in(url) != key_results:
            started = time.perf_counter()
            with psycopg.connect(url, autocommit=True) as connection:
                connection.execute("TRUNCATE cycles, objectives, key_results, contributions, "
                                   "links, removed_items, checkin_counters")
            fill_read_model(url, key_results, windows)
            log(f"  read model of {key_results:,} key results filled in "
                f"{time.perf_counter() - started:.0f} s")
        kafka = stack.enter_context(running_broker())
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="okr-cold-")))
        port = free_port()
        env = {**kafka_environment(kafka), "OKR_METRICS_DATABASE_URL": url,
               "OKR_METRICS_WORKER_METRICS_PORT": str(port)}
        night = 0
        for round_ in range(1, rounds + 1):
            for name, tree in trees:
                night += 1
                produced, _ = produce(kafka, night_batch(url, batch, night), batch,
                                      "night's batch")
                load = os.getloadavg()[0]
                loads.append(load)
                log(f"  round {round_}, {name}: cold start, {produced:,} check-ins waiting, "
                    f"load average {load:.1f}")
                started = time.perf_counter()
                with consumer_process(tree, env, log_dir / "consume.log") as process:
                    run = watch_consumer(process, port, kafka.topic_partitions, started,
                                         timeout)
                runs[name].append(run)
                rows.append([f"{round_}: {name}", f"{produced:,}", f"{run.serving:.1f}",
                             f"{run.first_lag:.1f}", f"{run.caught_up:.1f}",
                             f"{run.peak_rss / 2**20:.0f}", f"{load:.1f}"])
                log(f"    {' | '.join(rows[-1])}")
    ours = [run.caught_up for run in runs["this checkout"]]
    checks = [Check("cold start to lag 0 (s), median", statistics.median(ours),
                    f"< {TARGET_SECONDS:.0f}", statistics.median(ours) < TARGET_SECONDS),
              Check("peak RSS (MiB), largest", max(r.peak_rss for r in runs["this checkout"])
                    / 2**20, "< 512",
                    max(r.peak_rss for r in runs["this checkout"]) < 512 * 2**20)]
    notes = [f"{key_results:,} key results ({KEY_RESULTS_PER_OBJECTIVE} an objective), "
             + (f"windows of {windows} check-ins" if windows else "no windows")
             + f"; each round {batch:,} check-ins waiting; seconds from the process's start",
             f"load average (1 min) at each start: {', '.join(f'{x:.1f}' for x in loads)}"]
    if baseline_tree is not None:
        theirs = [run.caught_up for run in runs["baseline"]]
        ratios = [mine / base for mine, base in zip(ours, theirs, strict=True)]
        notes.append(f"caught up / baseline's, per round: "
                     f"{', '.join(f'{r:.2f}' for r in ratios)} (median "
                     f"{statistics.median(ratios):.2f}); baseline tree {baseline_tree}")
    return BenchResult(
        f"metrics consumer cold start at {key_results:,} key results", "postgresql",
        ["round: code", "waiting", "serving s", "lag reported s", "lag 0 s", "peak RSS MiB",
         "load average"], rows, checks, notes=notes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__)
    parser.add_argument("--key-results", type=int, default=1_000_000)
    parser.add_argument("--windows", type=int, default=12,
                        help="check-ins in each key result's window (default 12, full)")
    parser.add_argument("--batch", type=int, default=10_000,
                        help="check-ins waiting at each start (default 10,000)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline-tree", metavar="DIR",
                        help="alternate with the consumer of another checkout (e.g. main's)")
    parser.add_argument("--keep-database", metavar="NAME",
                        help="use (create if missing) and keep this PostgreSQL database; its "
                             "read model is reused when it has the size asked")
    parser.add_argument("--no-json", action="store_true",
                        help="do not write bench/results/*.json")
    args = parser.parse_args(argv)
    log("coldstart benchmark")
    result = run_cold_starts(args.key_results, args.windows, args.batch, args.rounds,
                             args.baseline_tree, args.keep_database)
    print(render(result) + "\n", flush=True)
    if not args.no_json:
        print(f"results written to {write_results([result], {'coldstart': vars(args)})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
