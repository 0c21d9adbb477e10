"""``python -m bench scale``: a year of a company, then the metrics consumer's cold start and
``okr-metrics rebuild`` at that size (issue 17, points 1 and 3).

1. **Load.** The seeded company of ``bench/company.py`` (``--key-results``,
   ``--departments``, ``--weeks``, ``--seed``) is produced to ``okr.goals.v1`` as the goals
   service's relay publishes it (same keys, values and headers: the documented contract,
   docs/events.md), and ``--subscriptions`` notification subscriptions are written to a
   notifications database. Everything goes through the event stream; there is no loader
   through the goals API: at the issue's size (1,000,000 key results, about 40 million
   check-ins) its batch route, at about 3,000 check-ins a second here, would take nearly
   four hours, and objectives, key results and contributions have no batch route. The
   goals database stays empty.
2. **First start:** ``okr-metrics consume`` (its own process, as deployed) reads the whole
   year into an empty read model, until its lag is 0 on every partition.
3. **Cold start:** it is stopped, the next night's integration batch is produced, and it
   is started again: the time until its worker metrics answer, until it reports its lag
   (read model loaded, group joined, first batch done) and until that lag is 0.
4. **Rebuild:** ``okr-metrics rebuild`` of the whole topic, its own process.

Baseline: a plain kafka-python consumer reading the same topic from its beginning
(``max_records`` 2,000, the rebuild's batch), run before the first start, between the cold
start and the rebuild, and after the rebuild. Peak RSS is the process's ``VmHWM``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import func, select

from bench.common import (
    BenchResult,
    Check,
    fmt,
    free_port,
    kafka_environment,
    log,
    open_engine,
    postgres_reachable,
    ratio,
    render,
    running_broker,
    worker_process,
    write_results,
)
from bench.company import Company, GoalEvent, ScaleOptions
from bench.metrics import _plain_consume, metrics_database
from bench.notifications import notifications_database
from bench.sampling import broker_pid
from services.metrics.adapters import tables as metrics_tables
from services.notifications.adapters.subscriptions import SubscriptionRepository
from shared.config import KafkaSettings
from shared.contract import Topic
from shared.messaging.kafka_clients import new_producer
from shared.persistence.engine import writing

REBUILD_BATCH = 2_000  # services/metrics/service_layer/rebuild.py's default
LAG_LINE = re.compile(r'^okr_consumer_lag_messages\{[^}]*partition="(\d+)"[^}]*'
                      r'topic="okr\.goals\.v1"[^}]*\} (\S+)$', re.MULTILINE)
POLL_SECONDS = 0.25  # the worker metrics render takes the consumer's CPU too: not faster
REPLAYED = re.compile(r"replayed (\d+) events \((\d+) applied\) in ([\d.]+)s")


@dataclass
class ConsumerRun:
    """One start of ``okr-metrics consume``: seconds from the process's start."""

    serving: float  # its worker metrics answered
    first_lag: float  # it reported its lag on every partition: loaded, joined, a batch done
    caught_up: float  # lag 0 on every partition
    peak_rss: int  # bytes


# -- load ------------------------------------------------------------------------------------

def produce(kafka: KafkaSettings, events: Iterable[GoalEvent], expected: int,
            what: str) -> tuple[int, float]:
    """Send ``events`` as the relay does; return how many and the seconds it took."""
    producer = new_producer(kafka, "bench-scale", linger_ms=20)
    started = last = time.perf_counter()
    count = 0
    for event in events:
        producer.send(Topic.GOALS.value, key=event.key.encode(), value=event.value,
                      headers=event.headers)
        count += 1
        if time.perf_counter() - last >= 5:
            last = time.perf_counter()
            rate = count / (last - started)
            log(f"  {what}: {count:,} of ~{expected:,} events, {rate:,.0f}/s, "
                f"ETA {max(0, expected - count) / rate:,.0f} s")
    producer.flush(timeout=120)
    producer.close()
    return count, time.perf_counter() - started


def store_subscriptions(url: str, company: Company, count: int) -> float:
    started = time.perf_counter()
    engine = open_engine(url)
    try:
        with writing(engine).begin() as connection:
            SubscriptionRepository(connection).add_many(company.subscriptions(count))
    finally:
        engine.dispose()
    return time.perf_counter() - started


# -- the metrics consumer --------------------------------------------------------------------

def peak_rss(pid: int) -> int:
    """The process's peak resident set (``VmHWM``) in bytes; 0 once it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def broker_peak_rss() -> int:
    """Peak RSS of the Tansu broker this process started (``running_broker``): it keeps
    every message in memory."""
    pid = broker_pid()
    return 0 if pid is None else peak_rss(pid)


def goals_lag(port: int, session: requests.Session) -> dict[int, float] | None:
    """The consumer's reported lag per partition of okr.goals.v1; None while not serving."""
    try:
        body = session.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except requests.RequestException:
        return None
    return {int(p): float(v) for p, v in LAG_LINE.findall(body)}


def watch_consumer(process: subprocess.Popen[bytes], port: int, partitions: int,
                   started: float, timeout: float) -> ConsumerRun:
    """Poll the consumer's worker metrics until its lag is 0 on every partition."""
    session = requests.Session()
    serving = first_lag = None
    last_log = started
    while True:
        now = time.perf_counter()
        if process.poll() is not None:
            raise RuntimeError(f"okr-metrics consume exited with {process.returncode}")
        if now - started > timeout:
            raise TimeoutError(f"the consumer did not catch up in {timeout:.0f} s")
        lag = goals_lag(port, session)
        if lag is not None and serving is None:
            serving = now - started
        if lag is not None and len(lag) == partitions:
            if first_lag is None:
                first_lag = now - started
            if not any(lag.values()):
                assert serving is not None
                return ConsumerRun(serving, first_lag, now - started, peak_rss(process.pid))
        if now - last_log >= 10:
            last_log = now
            behind = "not reported yet" if not lag else f"{sum(lag.values()):,.0f}"
            log(f"  consumer: {now - started:.0f} s, lag {behind}")
        time.sleep(POLL_SECONDS)


def consume_until_caught_up(env: dict[str, str], log_dir: Path, port: int,
                            partitions: int, timeout: float) -> ConsumerRun:
    started = time.perf_counter()
    with worker_process(["okr-metrics", "consume"], env, log_dir) as process:
        return watch_consumer(process, port, partitions, started, timeout)


def child_pids(pid: int) -> list[int]:
    with contextlib.suppress(OSError, ValueError):
        return [int(child) for child in
                Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def rebuild(env: dict[str, str], log_dir: Path) -> tuple[float, float, int, int, float]:
    """Run ``okr-metrics rebuild``; (wall s, replay s, events applied, peak RSS bytes of
    the process plus its reading process, CPU s of both)."""
    log_path = log_dir / "rebuild.log"
    started = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([str(Path(sys.executable).with_name("okr-metrics")),
                                    "rebuild"], env={**os.environ, **env},
                                   stdout=log_file, stderr=subprocess.STDOUT)
    peaks: dict[int, int] = {}
    while process.poll() is None:
        for pid in [process.pid, *child_pids(process.pid)]:
            peaks[pid] = max(peaks.get(pid, 0), peak_rss(pid))
        time.sleep(0.2)
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    peak = sum(peaks.values())
    output = log_path.read_text(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"okr-metrics rebuild exited with {process.returncode}:\n"
                           f"{output[-2000:]}")
    replays = REPLAYED.findall(output)
    if not replays:
        raise RuntimeError(f"okr-metrics rebuild replayed nothing:\n{output[-2000:]}")
    _, applied, seconds = replays[-1]
    return wall, float(seconds), int(applied), peak, cpu


def key_results_held(url: str) -> int:
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(
                metrics_tables.key_results)).scalar_one())
    finally:
        engine.dispose()


# -- the run ---------------------------------------------------------------------------------

def run_rebuilds(options: ScaleOptions, database: str, rounds: int = 2,
                 baseline_tree: Path | None = None) -> BenchResult:
    """Only the rebuild (``--only rebuild``): the year and the next night's batch are
    produced, no consumer is started, and ``rounds`` rebuilds alternate with the plain
    consumer (plain, rebuild, plain, rebuild, ..., plain); each rebuild's ratio is
    against the plain runs either side of it. ``baseline_tree``: another checkout of the
    project (say main's); each round then runs its rebuild too (``PYTHONPATH`` pointing
    there, this environment's packages), after this tree's, with a plain run after each."""
    log(f"scale: planning {options.key_results:,} key results, {options.departments} "
        f"departments, {options.weeks} weeks, seed {options.seed}; rebuild only, "
        f"{rounds} rounds" + (f", against {baseline_tree}" if baseline_tree else ""))
    company = Company.plan(options)
    expected = company.expected_events()
    loads: list[str] = []
    runs: list[tuple[str, tuple[float, float, int, int, float]]] = []
    with contextlib.ExitStack() as stack:
        kafka = stack.enter_context(running_broker())
        url = stack.enter_context(metrics_database(database))
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="okr-scale-")))
        year, producing = produce(kafka, company.year_events(), expected, "year")
        batch, _ = produce(kafka, company.check_in_events(7 * options.weeks, 1, people=False),
                           0, "nightly batch")
        total = year + batch
        log(f"  produced {total:,} events in {producing:.0f} s")
        env = {**kafka_environment(kafka), "OKR_METRICS_DATABASE_URL": url}
        trees = [("this tree", env)]
        if baseline_tree is not None:
            trees.append(("baseline tree", {**env, "PYTHONPATH": str(baseline_tree.resolve())}))
        plain: list[float] = []
        plain_cpu: list[float] = []

        def plain_round() -> None:
            cpu = time.process_time()
            plain.append(_plain_consume(kafka, total, REBUILD_BATCH))
            plain_cpu.append(time.process_time() - cpu)
            loads.append(f"{os.getloadavg()[0]:.1f}")
            log(f"    plain consumer: {plain[-1]:.1f} s, {total / plain[-1]:,.0f} events/s, "
                f"CPU {plain_cpu[-1]:.1f} s; load {loads[-1]}")

        plain_round()
        for round_ in range(rounds):
            for name, tree_env in trees:
                log(f"  okr-metrics rebuild ({name}), round {round_ + 1} of {rounds}")
                runs.append((name, rebuild(tree_env, log_dir)))
                loads.append(f"{os.getloadavg()[0]:.1f}")
                wall, replayed, _, peak, cpu = runs[-1][1]
                log(f"    rebuild ({name}): replay {replayed:.1f} s (process {wall:.1f} s), "
                    f"{total / replayed:,.0f} events/s, CPU {cpu:.1f} s, peak RSS "
                    f"{peak / 2 ** 20:,.0f} MiB; load {loads[-1]}")
                plain_round()
        held = key_results_held(url)
    plain_rates = [total / seconds for seconds in plain]
    ratios = [ratio(total / replayed, (plain_rates[i] + plain_rates[i + 1]) / 2)
              for i, (_, (_, replayed, _, _, _)) in enumerate(runs)]
    mib = 2 ** 20
    rows = [["baseline: plain kafka-python consumer (wall; CPU)", f"{total:,}",
             " / ".join(f"{p:.1f}" for p in plain) + "; "
             + " / ".join(f"{c:.1f}" for c in plain_cpu),
             " / ".join(fmt(r, 0) for r in plain_rates), "", ""]]
    rows += [[f"okr-metrics rebuild, {name} (replay / process wall; CPU)", f"{applied:,}",
              f"{replayed:.1f} / {wall:.1f}; {cpu:.1f}", fmt(total / replayed, 0),
              f"{ratios[i]:.3f}", f"{peak / mib:.0f}"]
             for i, (name, (wall, replayed, applied, peak, cpu)) in enumerate(runs)]
    mine = [r for r, (name, _) in zip(ratios, runs, strict=True) if name == "this tree"]
    median = statistics.median(mine)
    notes = [f"{held:,} key results in the read model; this tree's ratios "
             f"{', '.join(f'{r:.3f}' for r in mine)} (spread {min(mine):.3f}-{max(mine):.3f})"]
    if baseline_tree is not None:
        theirs = [r for r, (name, _) in zip(ratios, runs, strict=True) if name != "this tree"]
        notes.append(f"the baseline tree's ratios {', '.join(f'{r:.3f}' for r in theirs)}; "
                     f"this tree's over the baseline tree's, per round: "
                     f"{', '.join(f'{a / b:.2f}' for a, b in zip(mine, theirs, strict=True))}")
    notes.append(f"load average (1 min) after each plain run and each rebuild: "
                 f"{', '.join(loads)}")
    return BenchResult(
        f"rebuild of a company's year at {options.key_results:,} key results", database,
        ["step", "events", "seconds", "events/s", "ratio to plain", "peak RSS MiB"], rows,
        [Check("rebuild / plain consumer (median of rounds)", median, ">= 0.5",
               median >= 0.5)],
        details={"options": options.__dict__, "events": total, "key_results_held": held,
                 "load_average": loads, "plain_seconds": plain, "plain_cpu": plain_cpu,
                 "rebuilds": runs, "ratios": ratios},
        notes=notes)


def run_scale(options: ScaleOptions, database: str, timeout: float = 3_600.0) -> BenchResult:
    log(f"scale: planning {options.key_results:,} key results, {options.departments} "
        f"departments, {options.weeks} weeks, seed {options.seed}")
    company = Company.plan(options)
    expected = company.expected_events()
    loads = [f"{os.getloadavg()[0]:.1f}"]
    with contextlib.ExitStack() as stack:
        kafka = stack.enter_context(running_broker())
        url = stack.enter_context(metrics_database(database))
        notifications_url = stack.enter_context(notifications_database(database))
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="okr-scale-")))
        subscribing = store_subscriptions(notifications_url, company, options.subscriptions)
        year, producing = produce(kafka, company.year_events(), expected, "year")
        log(f"  produced {year:,} events in {producing:.0f} s ({company.check_ins:,} "
            f"check-ins); {options.subscriptions:,} subscriptions in {subscribing:.1f} s")
        plain = [_plain_consume(kafka, year, REBUILD_BATCH)]
        loads.append(f"{os.getloadavg()[0]:.1f}")
        port = free_port()
        env = {**kafka_environment(kafka), "OKR_METRICS_DATABASE_URL": url,
               "OKR_METRICS_WORKER_METRICS_PORT": str(port)}
        log("  first start of okr-metrics consume: the whole year")
        first = consume_until_caught_up(env, log_dir, port, kafka.topic_partitions, timeout)
        held = key_results_held(url)
        night = 7 * options.weeks
        before = company.check_ins
        batch, _ = produce(kafka, company.check_in_events(night, 1, people=False),
                           0, "nightly batch")
        assert batch == company.check_ins - before
        total = year + batch
        loads.append(f"{os.getloadavg()[0]:.1f}")
        log(f"  cold start of okr-metrics consume, {batch:,} check-ins waiting")
        cold = consume_until_caught_up(env, log_dir, port, kafka.topic_partitions, timeout)
        plain.append(_plain_consume(kafka, total, REBUILD_BATCH))
        loads.append(f"{os.getloadavg()[0]:.1f}")
        log("  okr-metrics rebuild")
        rebuilt_wall, replayed, applied, rebuilt_peak, _ = rebuild(env, log_dir)
        plain.append(_plain_consume(kafka, total, REBUILD_BATCH))
        loads.append(f"{os.getloadavg()[0]:.1f}")
        broker = broker_peak_rss()
    plain_rates = [year / plain[0], total / plain[1], total / plain[2]]
    first_rate = year / first.caught_up
    rebuild_rate = total / replayed
    rebuild_ratio = ratio(rebuild_rate, (plain_rates[1] + plain_rates[2]) / 2)
    first_ratio = ratio(first_rate, (plain_rates[0] + plain_rates[1]) / 2)
    mib = 2 ** 20
    rows = [
        ["load: events produced to okr.goals.v1", f"{year:,}", f"{producing:.1f}",
         fmt(year / producing, 0), "", ""],
        ["baseline: plain kafka-python consumer, 3 runs", f"{year:,} / {total:,} / {total:,}",
         " / ".join(f"{p:.1f}" for p in plain), " / ".join(fmt(r, 0) for r in plain_rates),
         "", ""],
        ["first start: consume the year (to lag 0)", f"{year:,}", f"{first.caught_up:.1f}",
         fmt(first_rate, 0), f"{first_ratio:.3f}", f"{first.peak_rss / mib:.0f}"],
        [f"cold start: serving / lag reported / lag 0 ({batch:,} waiting)", f"{batch:,}",
         f"{cold.serving:.1f} / {cold.first_lag:.1f} / {cold.caught_up:.1f}", "", "",
         f"{cold.peak_rss / mib:.0f}"],
        ["okr-metrics rebuild (replay / process wall)", f"{applied:,}",
         f"{replayed:.1f} / {rebuilt_wall:.1f}", fmt(rebuild_rate, 0), f"{rebuild_ratio:.3f}",
         f"{rebuilt_peak / mib:.0f}"],
    ]
    return BenchResult(
        f"a company's year at {options.key_results:,} key results", database,
        ["step", "events", "seconds", "events/s", "ratio to plain", "peak RSS MiB"], rows,
        [Check("cold start to lag 0 (s)", cold.caught_up, "< 60 (at 1,000,000 key results)",
               cold.caught_up < 60),
         Check("rebuild / plain consumer", rebuild_ratio, ">= 0.5", rebuild_ratio >= 0.5)],
        details={"options": options.__dict__, "events": total, "check_ins": company.check_ins,
                 "objectives": len(company.objectives), "key_results_held": held,
                 "contributions": len(company.contributions), "links": len(company.links),
                 "subscriptions": options.subscriptions, "load_average": loads,
                 "plain_seconds": plain, "first_start": first.__dict__,
                 "cold_start": cold.__dict__, "rebuild_wall": rebuilt_wall,
                 "rebuild_replay": replayed, "rebuild_applied": applied,
                 "broker_peak_rss": broker},
        notes=[f"{len(company.objectives):,} objectives, {held:,} key results in the read "
               f"model, {len(company.contributions):,} contributions, "
               f"{len(company.links):,} links, {company.check_ins:,} check-ins, "
               f"{options.subscriptions:,} subscriptions; the broker's peak RSS "
               f"{broker / mib:,.0f} MiB (Tansu keeps every message in memory)",
               "ratios: first start against the plain runs before and after it, the "
               "rebuild's replay against the plain runs before and after it",
               f"load average (1 min) at each step: {', '.join(loads)}"])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench scale", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = ScaleOptions()
    p.add_argument("--key-results", type=int, default=defaults.key_results,
                   help="key results of the year, over 4 quarterly cycles (default 10,000)")
    p.add_argument("--departments", type=int, default=defaults.departments,
                   help="departments, the default four first (default 8)")
    p.add_argument("--subscriptions", type=int, default=defaults.subscriptions,
                   help="notification subscriptions (default 10,000)")
    p.add_argument("--weeks", type=int, default=defaults.weeks,
                   help="weeks of check-ins from 1 January (default 52: a year)")
    p.add_argument("--seed", type=int, default=defaults.seed,
                   help="same arguments, same company, byte for byte")
    p.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument("--timeout", type=float, default=3_600.0,
                   help="seconds a consumer start may take to catch up")
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/*.json")
    p.add_argument("--only", choices=("rebuild",),
                   help="rebuild: no consumer starts; --rounds rebuilds alternating with "
                        "the plain consumer")
    p.add_argument("--rounds", type=int, default=2,
                   help="rebuilds with --only rebuild (default 2)")
    p.add_argument("--baseline-tree", type=Path, default=None,
                   help="with --only rebuild: also run the rebuild of this checkout each round")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        options = ScaleOptions(key_results=args.key_results, departments=args.departments,
                               subscriptions=args.subscriptions, weeks=args.weeks,
                               seed=args.seed)
    except ValueError as error:
        parser().error(str(error))
    if args.database == "postgresql" and (reason := postgres_reachable()) is not None:
        log(f"PostgreSQL unreachable ({reason}); set OKR_TEST_POSTGRES_URL")
        return 2
    result = (run_rebuilds(options, args.database, args.rounds, args.baseline_tree)
              if args.only == "rebuild"
              else run_scale(options, args.database, args.timeout))
    print(render(result) + "\n", flush=True)
    if not args.no_json:
        print(f"results written to {write_results([result], {'scale': options.__dict__})}")
    return 0
