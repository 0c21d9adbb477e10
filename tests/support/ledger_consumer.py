"""A consumer with a visible effect: one ``ledger`` row per event it applies.

The ledger has no unique constraint on ``event_id``, so an event applied twice would show
up as two rows; exactly-once effects mean ``count(*) == count(DISTINCT event_id)``. It runs
on the real :class:`~shared.messaging.consumer.ConsumerRunner`, in a test's thread or as a
process of its own (for ``kill -9``)::

    python -m tests.support.ledger_consumer --database-url URL --bootstrap HOST:PORT --group G
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, func, select

from shared.cloudevents import CloudEvent
from shared.config import KafkaSettings
from shared.contract import Topic
from shared.messaging.consumer import ConsumerRunner
from shared.persistence.engine import create_database_engine
from shared.persistence.tables import add_plumbing_tables
from shared.runtime.workers import run_until_signalled

SERVICE = "ledger"

metadata = MetaData()
plumbing = add_plumbing_tables(metadata)
ledger = Table(
    "ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Deliberately not unique: a second application of one event must stay visible.
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("subject", String(200), nullable=False),
)


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine, checkfirst=True)


def record_in_ledger(event: CloudEvent, connection: Connection) -> None:
    connection.execute(ledger.insert().values(event_id=event.id, event_type=event.type,
                                              subject=event.subject))


def build_runner(engine: Engine, kafka: KafkaSettings, group_id: str,
                 topics: Sequence[str] = (Topic.GOALS.value,),
                 max_records: int = 200) -> ConsumerRunner:
    return ConsumerRunner(service=SERVICE, group_id=group_id, topics=list(topics),
                          handler=record_in_ledger, engine=engine,
                          processed_events=plumbing.processed_events, kafka=kafka,
                          max_records=max_records)


def ledger_counts(engine: Engine, event_type: str | None = None) -> tuple[int, int]:
    """(rows, distinct event ids) in the ledger, optionally for one event type."""
    query = select(func.count(), func.count(ledger.c.event_id.distinct()))
    if event_type is not None:
        query = query.where(ledger.c.event_type == event_type)
    with engine.connect() as connection:
        rows, distinct = connection.execute(query).one()
    return int(rows), int(distinct)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.ledger_consumer")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--group", required=True, help="consumer group id")
    parser.add_argument("--topic", action="append", help="topic to read (default okr.goals.v1)")
    parser.add_argument("--max-records", type=int, default=200, help="messages per poll")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    kafka = KafkaSettings.from_env({**os.environ, "OKR_KAFKA_BOOTSTRAP_SERVERS": args.bootstrap})
    engine = create_database_engine(args.database_url)
    create_schema(engine)
    runner = build_runner(engine, kafka, args.group, args.topic or (Topic.GOALS.value,),
                          args.max_records)
    try:
        return run_until_signalled(SERVICE, {"consumer": runner.run}, metrics_port=None)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
