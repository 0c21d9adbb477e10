"""Finding topics the broker lost, and queueing their retained outbox rows again.

A broker can lose a topic (the embedded Tansu broker keeps everything in memory and
loses every topic when it restarts; a real cluster can lose one too). The outbox keeps
published rows for ``OKR_OUTBOX_RETENTION_HOURS``, and remembers where each went. A topic
is lost when it had to be created again, when a partition that held a published row is
gone, or when the record at the newest remembered offset is missing or another event.
Its retained rows are then queued again; consumers drop what they already applied by
event id. The retention must stay shorter than the topics' own retention.
"""

from __future__ import annotations

import json
import logging
import time

from kafka import TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import Engine, Table, and_, func, select, update

from shared.config import KafkaSettings
from shared.messaging.kafka_clients import ensure_topics, new_consumer
from shared.observability.metrics import OUTBOX_REPUBLISHED
from shared.persistence.engine import writing

log = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """The broker did not answer (or acknowledge) in time; the rows stay pending."""


Newest = dict[tuple[str, int], tuple[int, str]]
"""(topic, partition) -> (offset, event id) of the newest record published there."""


class LostTopics:
    def __init__(self, *, service: str, engine: Engine, outbox_table: Table,
                 kafka: KafkaSettings) -> None:
        self.service = service
        self.engine = engine
        self.table = outbox_table
        self.kafka = kafka

    def find(self) -> set[str]:
        """Create missing topics; return the topics that lost records they held."""
        newest = self._newest_published_per_partition()
        try:
            created = ensure_topics(self.kafka, f"{self.service}-relay-admin")
        except KafkaError as error:
            raise BrokerUnavailable(f"cannot list topics: {error}") from error
        lost = {topic for topic, _ in newest} & created
        return lost | self._topics_not_holding(
            {key: value for key, value in newest.items() if key[0] not in lost})

    def queue_again(self, topics: set[str]) -> None:
        """Mark the retained rows of ``topics`` unpublished, so the relay sends them again."""
        table = self.table
        with writing(self.engine).begin() as connection:
            for topic in sorted(topics):
                result = connection.execute(
                    update(table)
                    .where(table.c.topic == topic, table.c.published_at.is_not(None))
                    .values(published_at=None, kafka_partition=None, kafka_offset=None)
                )
                OUTBOX_REPUBLISHED.labels(self.service, topic).inc(result.rowcount)
                log.warning("broker lost topic %s: %d retained events queued again",
                            topic, result.rowcount)

    def _newest_published_per_partition(self) -> Newest:
        table = self.table
        newest = (
            select(table.c.topic, table.c.kafka_partition,
                   func.max(table.c.kafka_offset).label("offset"))
            .where(table.c.published_at.is_not(None))
            .group_by(table.c.topic, table.c.kafka_partition)
            .subquery()
        )
        query = select(table.c.topic, table.c.kafka_partition, table.c.kafka_offset,
                       table.c.event_id).join(
            newest,
            and_(table.c.topic == newest.c.topic,
                 table.c.kafka_partition == newest.c.kafka_partition,
                 table.c.kafka_offset == newest.c.offset),
        )
        with self.engine.connect() as connection:
            return {(r.topic, r.kafka_partition): (r.kafka_offset, r.event_id)
                    for r in connection.execute(query)}

    def _topics_not_holding(self, expected: Newest) -> set[str]:
        """Read back each expected record; the topics where one is missing or another."""
        if not expected:
            return set()
        consumer = new_consumer(self.kafka, f"{self.service}-relay-check", group_id=None,
                                max_partition_fetch_bytes=256 * 1024)
        lost: set[str] = set()
        try:
            wanted: dict[TopicPartition, tuple[int, str]] = {}
            for (topic, partition), record in expected.items():
                partitions = consumer.partitions_for_topic(topic) or set()
                if partition not in partitions:
                    lost.add(topic)
                else:
                    wanted[TopicPartition(topic, partition)] = record
            wanted = {tp: r for tp, r in wanted.items() if tp.topic not in lost}
            if not wanted:
                return lost
            consumer.assign(list(wanted))
            for tp, (offset, _) in wanted.items():
                consumer.seek(tp, offset)
            deadline = time.monotonic() + self.kafka.request_timeout_ms / 1000
            pending = dict(wanted)
            while pending and time.monotonic() < deadline:
                for tp, messages in consumer.poll(timeout_ms=200).items():
                    if tp not in pending:
                        continue
                    offset, event_id = pending[tp]
                    for message in messages:
                        if message.offset == offset:
                            if _event_id_of(message.value) != event_id:
                                lost.add(tp.topic)
                            pending.pop(tp)
                            consumer.pause(tp)
                            break
                for tp in list(pending):
                    highwater = consumer.highwater(tp)
                    if highwater is not None and highwater <= pending[tp][0]:
                        lost.add(tp.topic)
                        pending.pop(tp)
            if pending:
                raise BrokerUnavailable(f"could not read back {sorted(map(str, pending))}")
            return lost
        finally:
            consumer.close()


def _event_id_of(value: bytes | None) -> str | None:
    """The CloudEvent id in a record's value; None for anything else, however malformed
    (a recreated topic may hold records that someone else wrote)."""
    try:
        document = json.loads(value or b"")
    except Exception:  # any value: too deep, too long a number, not UTF-8 ...
        return None
    return document.get("id") if isinstance(document, dict) else None
