"""Reading what reached the broker, without a consumer group."""

from __future__ import annotations

import json
import time
from typing import Any

from kafka import TopicPartition

from shared.config import KafkaSettings
from shared.messaging.kafka_clients import new_admin, new_consumer


def read_topic(settings: KafkaSettings, topic: str, *, expect: int | None = None,
               timeout: float = 20.0, quiet_period: float = 1.0) -> list[Any]:
    """All records of ``topic`` from the beginning.

    Stops when ``expect`` records were read (then waits ``quiet_period`` more, so an extra
    record would be seen), or when nothing new arrived for ``quiet_period`` after
    ``timeout``; a missing topic reads as empty.
    """
    deadline = time.monotonic() + timeout
    admin = new_admin(settings, "test-reader-admin")
    try:
        # Asking a consumer about a missing topic would create it (Tansu): wait for the
        # producer side to create it instead.
        while topic not in admin.list_topics():
            if time.monotonic() > deadline:
                return []
            time.sleep(0.1)
    finally:
        admin.close()
    consumer = new_consumer(settings, "test-reader", group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        last_new = time.monotonic()
        while True:
            batch = consumer.poll(timeout_ms=200)
            for messages in batch.values():
                records.extend(messages)
                if messages:
                    last_new = time.monotonic()
            now = time.monotonic()
            enough = expect is not None and len(records) >= expect
            if enough and now - last_new >= quiet_period:
                break
            if now > deadline and now - last_new >= quiet_period:
                break
        return records
    finally:
        consumer.close()


def event_documents(records: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(record.value) for record in records]
