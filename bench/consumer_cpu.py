"""CPU of the metrics consumer's own work per batch, without the broker
(``python -m bench.consumer_cpu``).

The events of ``python -m bench.metrics --only throughput`` (20,000 by default: a cycle,
objectives with one key result each, then check-ins), grouped by Kafka key into three
partitions as a poll returns them, go through what the consumer does with a polled batch
of 1,000: :func:`~shared.cloudevents.parse_event` of each value, then
``ConsumerRunner.apply_batch`` (the processed-event record, decoding, the roll-up graph, the
read model's writes and the roll-up events in the outbox, one transaction per batch) on a
fresh database. It prints the process CPU seconds and the wall seconds of that work.

Kafka's side (fetch, CRC checks, record parsing) costs the same whatever the code, and on
the shared machine the wall clock counts every other process's turns; CPU time of the
consumer's own work is the steadier figure to compare two versions of the code by. The file
imports only ``bench.metrics`` helpers that older checkouts have too, so it times another
checkout side by side: ``cd <checkout> && PYTHONPATH=. python <this repo>/bench/consumer_cpu.py
--label old`` (alternate the two and compare medians).

The events' ids are drawn from a seeded generator (``--seed``), so every run, of either
checkout, applies the same events in the same batches: with random ids the Kafka keys, and
so the partitions and each batch's mix of key results, changed from run to run, and with
them the roll-up work (up to a third more key results rolled up in one run than another).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
import zlib
from collections.abc import Sequence

from bench.metrics import _goal_events, metrics_config, metrics_database
from services.metrics.bootstrap import bootstrap
from shared.cloudevents import parse_event
from shared.config import KafkaSettings

BATCH = 1_000  # the production batch size (and the throughput benchmark's)
PARTITIONS = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.consumer_cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--label", default="", help="a name printed with the figures")
    parser.add_argument("--batch", type=int, default=BATCH,
                        help=f"events a transaction (default {BATCH:,}: one poll's; the "
                             "consumer gathers up to OKR_METRICS_BATCH_RECORDS when it lags)")
    parser.add_argument("--seed", type=int, default=11,
                        help="of the events' ids (the same seed, the same events, but for "
                             "their envelope's time, which is now)")
    parser.add_argument("--no-forecasts", action="store_true",
                        help="the projection without forecast windows and without forecast "
                             "and why on the roll-up events (Metrics.projection(forecasts="
                             "False)); for code that has them (issue 15)")
    args = parser.parse_args(argv)
    partitions: list[list[bytes]] = [[] for _ in range(PARTITIONS)]
    for key, value in _seeded_events(args.events, args.seed):
        partitions[zlib.crc32(key.encode()) % PARTITIONS].append(value)
    values = [value for partition in partitions for value in partition]
    # never connected to: the batch work needs no broker
    kafka = KafkaSettings("127.0.0.1:9", PARTITIONS, 1, 2_000, 6_000, 5_000)
    with metrics_database(args.database) as url:
        metrics = bootstrap(metrics_config(url, kafka, batch_size=args.batch))
        try:
            projection = (metrics.projection(forecasts=False) if args.no_forecasts
                          else metrics.projection())
            projection.load()
            runner = metrics.consumer(projection)
            cpu, wall = time.process_time(), time.perf_counter()
            for start in range(0, len(values), args.batch):
                runner.apply_batch([parse_event(value)
                                    for value in values[start:start + args.batch]])
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            metrics.engine.dispose()
    label = f"{args.label}: " if args.label else ""
    label += "without forecasts: " if args.no_forecasts else ""
    print(f"{label}{args.database} {len(values)} events in batches of {args.batch}: "
          f"CPU {cpu:.3f} s ({cpu * 1e6 / len(values):.1f} us/event), "
          f"wall {wall:.3f} s ({len(values) / wall:,.0f} events/s)", flush=True)
    return 0


def _seeded_events(count: int, seed: int) -> list[tuple[str, bytes]]:
    """``_goal_events(count)`` with every ``uuid.uuid4()`` it makes drawn from ``seed``
    (the helper is an older checkout's too, so it is seeded from outside)."""
    generator = random.Random(seed)
    unseeded = uuid.uuid4
    uuid.uuid4 = lambda: uuid.UUID(int=generator.getrandbits(128), version=4)
    try:
        return _goal_events(count)
    finally:
        uuid.uuid4 = unseeded


if __name__ == "__main__":
    sys.exit(main())
