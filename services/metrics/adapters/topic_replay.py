"""Reading a topic from its beginning to its end, outside any consumer group (a rebuild).

A record the client cannot read at all (a bad CRC, a header name that is not UTF-8) makes
its poll fail; the live consumers dead-letter such a record and move past it, and so does
the replay (it gives ``None`` in its place, which the rebuild counts as skipped), so one
such record does not stop every rebuild for as long as the topic keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from kafka import KafkaConsumer, TopicPartition

from shared.config import KafkaSettings
from shared.messaging.failures import NOT_A_RECORD_FAILURE, find_unreadable, may_be_unreadable
from shared.messaging.kafka_clients import ensure_topics, new_consumer

log = logging.getLogger(__name__)

QUIET_POLLS = 20  # empty polls in a row (10 s) short of a partition's end: the broker is gone


class ReplayIncomplete(RuntimeError):
    """The broker stopped sending records before the end of every partition."""


class TopicReplay:
    def __init__(self, kafka: KafkaSettings, topic: str, client_id: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self.client_id = client_id

    def batches(self, batch_size: int) -> Iterator[list[bytes | None]]:
        """The records' values, a poll at a time (empty polls left out), until the end
        of every partition as it was when the replay reached it; raise
        :class:`ReplayIncomplete` if the records stop short of it (a rebuild must not end
        as if it had read the whole topic). ``None`` for a record the client cannot read."""
        ensure_topics(self.kafka, f"{self.client_id}-admin", [self.topic])
        consumer = new_consumer(self.kafka, self.client_id, group_id=None)
        try:
            partitions = [TopicPartition(self.topic, p)
                          for p in sorted(consumer.partitions_for_topic(self.topic) or [])]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            quiet = 0
            while True:
                try:
                    batch = consumer.poll(timeout_ms=500, max_records=batch_size)
                except NOT_A_RECORD_FAILURE:
                    raise
                except BaseException as error:
                    skipped = self._skip_unreadable(consumer, error)
                    quiet = 0
                    yield [None] * skipped
                    continue
                if batch:
                    quiet = 0
                    yield [message.value for messages in batch.values() for message in messages]
                elif _at_end(consumer, partitions):
                    return
                else:
                    quiet += 1
                    if quiet >= QUIET_POLLS:
                        raise ReplayIncomplete(
                            f"{self.topic}: no records in {QUIET_POLLS} polls short of the end "
                            f"of its partitions (is the broker down?)")
        finally:
            consumer.close(autocommit=False)

    def _skip_unreadable(self, consumer: KafkaConsumer, error: BaseException) -> int:
        """Move past each record the client cannot read that made a poll fail with
        ``error``; how many. Raise ``error`` if no such record explains it (the broker
        away, say: the rebuild stops rather than go on without records)."""
        found = (find_unreadable(consumer, self.kafka, f"{self.client_id}-reader",
                                 self.kafka.request_timeout_ms / 1000 * 2)
                 if may_be_unreadable(error) else None)
        if not found:
            raise error
        for tp, (offset, reason) in sorted(found.items()):
            log.warning("record %s[%d]@%d cannot be read, skipping it: %s: %s", tp.topic,
                        tp.partition, offset, type(reason).__name__, reason)
            consumer.seek(tp, offset + 1)
        return len(found)


def _at_end(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> bool:
    for tp in partitions:
        highwater = consumer.highwater(tp)
        if highwater is None or consumer.position(tp) < highwater:
            return False
    return True
