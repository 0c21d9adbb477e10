"""The delivery loop beside a digest backlog (``python -m bench.notification_backlog``).

In the mixed load (docs/performance.md) the worker's delivery loop sent 5-12 deliveries a
second while thousands of subscriptions had items waiting for their digest. This
reproduces that state without the rest of the platform: a fresh database holding 10,000
subscriptions (``bench/notifications.py``'s mix) of webhooks to a local receiver (its own
process); ``--events`` status changes (settle 0, hourly cap 10) applied by the consumer's
handler in batches of 500, which leaves immediate deliveries due and digest items waiting
for most subscriptions (their interval, an hour, not reached); then the worker's real
:class:`DeliveryLoop`, with the worker's default settings (8 sending threads, claims of
50, settling and digests checked every half second), runs for ``--seconds`` and the
deliveries it made are counted.

It prints deliveries per second with the load average. There is no baseline in the same
process: the figure is for comparing two checkouts side by side, alternating them
(``cd <checkout> && PYTHONPATH=. python <this repo>/bench/notification_backlog.py
--label old``); the file imports only ``bench.notifications`` helpers that older
checkouts have too.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, Select, func, select

from bench.notifications import (
    STATUSES,
    _container,
    _status_change,
    _subscriptions,
    local_receiver,
    notifications_database,
)
from services.notifications.adapters import tables
from services.notifications.adapters.subscriptions import SubscriptionRepository
from services.notifications.config import DeliverySettings
from shared.cloudevents import parse_event
from shared.persistence.engine import writing

BATCH = 500  # events a transaction, the worker's default


def _count(engine: Engine, query: Select[Any]) -> int:
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notification_backlog",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--events", type=int, default=3_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--label", default="", help="a name printed with the figures")
    args = parser.parse_args(argv)
    rng = random.Random(17)
    objectives = [str(uuid.uuid4()) for _ in range(2_000)]
    deliveries = tables.deliveries
    with local_receiver() as receiver, notifications_database(args.database) as url:
        container = _container(url, 8, hourly_cap=10)
        defaults = DeliverySettings.from_env({})  # the worker's, not the other benchmarks'
        container = replace(container, config=replace(container.config, delivery=replace(
            container.config.delivery, concurrency=defaults.concurrency,
            batch_size=defaults.batch_size, poll_seconds=defaults.poll_seconds)))
        try:
            with writing(container.engine).begin() as connection:
                SubscriptionRepository(connection).add_many(
                    _subscriptions(10_000, objectives, rng, target=receiver.url))
            handler = container.handler()
            for start in range(0, args.events, BATCH):
                events = [parse_event(_status_change(rng.choice(objectives),
                                                     rng.choice(STATUSES)).to_json())
                          for _ in range(min(BATCH, args.events - start))]
                with writing(container.engine).begin() as connection:
                    handler.handle_batch(events, connection)
            due = _count(container.engine, select(func.count()).select_from(deliveries))
            waiting = _count(container.engine, select(
                func.count(func.distinct(tables.digest_items.c.subscription_id))))
            loop = container.delivery_loop()
            stop = threading.Event()
            thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
            load = os.getloadavg()[0]
            started = time.perf_counter()
            thread.start()
            time.sleep(args.seconds)
            sent = _count(container.engine, select(func.count()).select_from(deliveries)
                          .where(deliveries.c.status == "delivered"))
            elapsed = time.perf_counter() - started
            stop.set()
            thread.join(timeout=60)
        finally:
            container.engine.dispose()
    label = f"[{args.label}] " if args.label else ""
    print(f"{label}delivery loop beside digests waiting for {waiting:,} subscriptions: "
          f"{sent:,} of {due:,} due deliveries sent in {elapsed:.1f} s, "
          f"{sent / elapsed:,.0f}/s (load average {load:.1f} at the start)"
          + ("; all sent before the end: raise --events" if sent == due else ""),
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
