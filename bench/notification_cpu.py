"""CPU of the notification worker's own work per event, without the broker
(``python -m bench.notification_cpu``).

The events of ``python -m bench.notification_consumer`` (status changes of 2,000 objectives,
settle 0, hourly cap 10, 10,000 subscriptions as ``bench/notifications.py`` makes them) go
through what the worker does with a polled batch: :func:`~shared.cloudevents.parse_event`
of each value, then ``ConsumerRunner.apply_batch`` (the processed-event record, the read
model, the status watches, matching, the hourly cap, deliveries and digest items, one
transaction per batch of ``--batch``) on a fresh database. It prints, per event: the wall
time, this thread's CPU time, and the CPU time of the database's server processes of this
run (PostgreSQL only: read from ``/proc``, so on this machine only).

``--broad N`` replaces N of the subscriptions with ones every event matches (a department
filter, ``sales``, that every status change carries; immediate webhooks, one recipient
each): each event then fans out to N more subscriptions, mostly into digests once their
hourly cap is reached. It shows how the per-event work grows with the subscribers matched.

Kafka's side costs every version of the code the same, and on the shared machine the wall
clock counts every other process's turns: the two CPU figures are the steadier ones to
compare versions by. The file imports only ``bench.notifications`` helpers that older
checkouts have too: ``cd <checkout> && PYTHONPATH=. python <this repo>/bench/notification_cpu.py
--label old`` (alternate the two and compare medians).
"""

from __future__ import annotations

import argparse
import os
import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from bench.notifications import (
    SECRET,
    STATUSES,
    _container,
    _status_change,
    _subscriptions,
    notifications_database,
)
from services.notifications.adapters.subscriptions import SubscriptionRepository
from services.notifications.domain.subscriptions import (
    Channel,
    DeliveryMode,
    Filters,
    Subscription,
)
from shared.cloudevents import parse_event
from shared.persistence.engine import is_sqlite, writing


def server_cpu_seconds(engine: Engine) -> float:
    """CPU seconds of the PostgreSQL server processes connected to this engine's database
    (0 for SQLite, or where ``/proc`` does not show them)."""
    if is_sqlite(engine):
        return 0.0
    with engine.connect() as connection:
        pids = connection.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars()
        total = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rpartition(")")[2].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _broad_subscriptions(count: int) -> list[Subscription]:
    """Immediate webhooks, one recipient each, that hear every status change of the
    benchmark (each carries the department ``sales``)."""
    now = datetime.now(UTC)
    return [Subscription(id=str(uuid.uuid4()), recipient=f"broad{i}", department="sales",
                         channel=Channel.WEBHOOK, target="https://hooks.example.org/x",
                         secret=SECRET, filters=Filters(departments=frozenset({"sales"})),
                         mode=DeliveryMode.IMMEDIATE, digest_interval_seconds=3600,
                         created_by="bench", created_at=now, updated_at=now)
            for i in range(count)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notification_cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=None,
                        help="events a transaction (default: what the worker gathers lagging)")
    parser.add_argument("--broad", type=int, default=0,
                        help="subscriptions that every event matches, of the 10,000")
    parser.add_argument("--label", default="", help="a name printed with the figures")
    args = parser.parse_args(argv)
    rng = random.Random(17)
    objectives = [str(uuid.uuid4()) for _ in range(2_000)]
    with notifications_database(args.database) as url:
        container = _container(url, 1, hourly_cap=10)
        # what a lagging worker applies a transaction (older checkouts: one poll's)
        batch = args.batch or getattr(container.config, "consumer_batch_records",
                                      container.config.consumer_max_records)
        try:
            with writing(container.engine).begin() as connection:
                SubscriptionRepository(connection).add_many(
                    _subscriptions(10_000 - args.broad, objectives, rng)
                    + _broad_subscriptions(args.broad))
            values = [_status_change(rng.choice(objectives), rng.choice(STATUSES)).to_json()
                      for _ in range(args.events)]
            handler = container.handler()
            with container.reading() as uow:  # the index a running worker keeps
                handler.dispatcher.index(uow.subscriptions)
            runner = container.consumer(handler)
            server = server_cpu_seconds(container.engine)
            cpu, wall = time.thread_time(), time.perf_counter()
            for start in range(0, len(values), batch):
                runner.apply_batch([parse_event(value) for value in values[start:start + batch]])
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
            server = server_cpu_seconds(container.engine) - server
            with container.engine.connect() as connection:
                rows = [connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                        for table in ("deliveries", "digest_items")]
        finally:
            container.engine.dispose()
    label = f"[{args.label}] " if args.label else ""
    per_event = 1e6 / args.events
    broad = f", {args.broad:,} matching every event" if args.broad else ""
    print(f"{label}{args.events:,} events, {batch} a transaction ({args.database}{broad}): "
          f"wall {wall * per_event:.0f} us, this thread's CPU {cpu * per_event:.0f} us, "
          f"the database's CPU {server * per_event:.0f} us an event; "
          f"{rows[0] / args.events:.2f} deliveries and {rows[1] / args.events:.2f} digest "
          f"items an event "
          f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
