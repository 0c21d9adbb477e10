"""Reading a topic from its beginning to its end, outside any consumer group (a rebuild)."""

from __future__ import annotations

from collections.abc import Iterator

from kafka import KafkaConsumer, TopicPartition

from shared.config import KafkaSettings
from shared.messaging.kafka_clients import ensure_topics, new_consumer

QUIET_POLLS = 20  # empty polls in a row (10 s) short of a partition's end: the broker is gone


class ReplayIncomplete(RuntimeError):
    """The broker stopped sending records before the end of every partition."""


class TopicReplay:
    def __init__(self, kafka: KafkaSettings, topic: str, client_id: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self.client_id = client_id

    def batches(self, batch_size: int) -> Iterator[list[bytes]]:
        """The records' values, a poll at a time (empty polls left out), until the end
        of every partition as it was when the replay reached it; raise
        :class:`ReplayIncomplete` if the records stop short of it (a rebuild must not end
        as if it had read the whole topic)."""
        ensure_topics(self.kafka, f"{self.client_id}-admin", [self.topic])
        consumer = new_consumer(self.kafka, self.client_id, group_id=None)
        try:
            partitions = [TopicPartition(self.topic, p)
                          for p in sorted(consumer.partitions_for_topic(self.topic) or [])]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            quiet = 0
            while True:
                batch = consumer.poll(timeout_ms=500, max_records=batch_size)
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


def _at_end(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> bool:
    for tp in partitions:
        highwater = consumer.highwater(tp)
        if highwater is None or consumer.position(tp) < highwater:
            return False
    return True
