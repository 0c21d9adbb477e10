"""Command line of the benchmarks: which ones, how big, on which databases."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench.common import BenchResult, log, postgres_reachable, render, write_results
from bench.explain import explain_summary
from bench.latency import LatencyOptions, run_latency
from bench.metrics import metrics_summary
from bench.notification_consumer import ConsumerBenchOptions, run_consumer_ratio
from bench.notifications import NotificationBenchOptions, run_matching, run_webhooks
from bench.throughput import ThroughputOptions, run_throughput
from shared.config import RelaySettings

DEFAULT_RELAY_BATCH = RelaySettings.from_env({}).batch_size

BENCHMARKS = ("throughput", "latency", "webhooks", "matching", "metrics", "explain")
DATABASES = ("postgresql", "sqlite")


def _producer_override(text: str) -> tuple[str, Any]:
    name, _, raw = text.partition("=")
    if not name or not raw:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    value: Any = raw
    for convert in (int, float):
        try:
            value = convert(raw)
            break
        except ValueError:
            continue
    return name.strip(), value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the OKR platform, each against a baseline of the same run.")
    p.add_argument("--quick", action="store_true",
                   help="small sizes (2,000 events, 5 s of latency) for a fast look")
    p.add_argument("--only", action="append", choices=BENCHMARKS, metavar="NAME",
                   help=f"run only this benchmark ({', '.join(BENCHMARKS)}); repeatable")
    p.add_argument("--database", action="append", choices=DATABASES,
                   help="database(s) to run on (default: postgresql); repeatable")
    p.add_argument("--events", type=int, help="throughput: events per round (default 20,000)")
    p.add_argument("--rounds", type=int,
                   help="rounds per benchmark (default: throughput 3, latency 2, the notification "
                        "consumer 5; quick 1-2)")
    p.add_argument("--relay-batch-size", type=int, default=DEFAULT_RELAY_BATCH,
                   help="RelaySettings.batch_size for the relay (default: the platform's, "
                        f"{DEFAULT_RELAY_BATCH})")
    p.add_argument("--producer", action="append", type=_producer_override, default=[],
                   metavar="NAME=VALUE",
                   help="throughput: producer setting for both sides, e.g. linger_ms=5")
    p.add_argument("--rate", type=float, default=200.0, help="latency: events/s (default 200)")
    p.add_argument("--duration", type=float, help="latency: seconds per side per round "
                                                  "(default 20; quick 5)")
    p.add_argument("--writer", choices=("uow", "outbox"), default="uow",
                   help="latency: commit through the goals unit of work, or Outbox.append")
    p.add_argument("--writers", type=int, default=8,
                   help="latency: threads committing on the relay side (default 8)")
    p.add_argument("--fetch-max-wait-ms", type=int, default=20,
                   help="latency: the consumer's fetch_max_wait_ms (default 20)")
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/*.json")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    databases = args.database or ["postgresql"]
    if "postgresql" in databases:
        reason = postgres_reachable()
        if reason is not None:
            log(f"PostgreSQL unreachable ({reason}); set OKR_TEST_POSTGRES_URL")
            return 2
    selected = args.only or list(BENCHMARKS)
    throughput = ThroughputOptions(
        events=args.events or (2_000 if args.quick else 20_000),
        rounds=args.rounds or (3 if not args.quick else 2),
        relay_batch_size=args.relay_batch_size,
        producer_overrides=tuple(args.producer),
    )
    latency = LatencyOptions(
        rate=args.rate,
        duration=args.duration or (5.0 if args.quick else 20.0),
        rounds=args.rounds or (2 if not args.quick else 1),
        writer=args.writer,
        writers=args.writers,
        fetch_max_wait_ms=args.fetch_max_wait_ms,
        relay_batch_size=args.relay_batch_size,
    )
    notification_bench = (NotificationBenchOptions(deliveries=300, rounds=2, notices=5_000)
                          if args.quick else NotificationBenchOptions())
    notification_consumer = ConsumerBenchOptions(
        events=1_000 if args.quick else ConsumerBenchOptions.events,
        rounds=args.rounds or (2 if args.quick else ConsumerBenchOptions.rounds))
    runners: dict[str, Callable[[str], list[BenchResult]]] = {
        "throughput": lambda database: [run_throughput(database, throughput)],
        "latency": lambda database: [run_latency(database, latency)],
        "webhooks": lambda database: [run_webhooks(database, notification_bench)],
        "matching": lambda database: [run_matching(database, notification_bench),
                                      run_consumer_ratio(database, notification_consumer)],
        "metrics": lambda database: [metrics_summary(database, args.quick)],
        "explain": lambda database: [explain_summary(database, args.quick)],
    }
    results: list[BenchResult] = []
    started = time.monotonic()
    for name in selected:
        for database in databases:
            for result in runners[name](database):
                results.append(result)
                print(render(result) + "\n", flush=True)
    log(f"all done in {time.monotonic() - started:.0f} s")
    if not args.no_json:
        options = {"quick": args.quick, "only": selected, "databases": databases,
                   "throughput": throughput.__dict__, "latency": latency.__dict__}
        path = write_results(results, options)
        print(f"results written to {path}")
    return 0
