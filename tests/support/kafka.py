"""The broker of the tests, and reading what reached it without a consumer group.

By default every test that needs Kafka gets a fresh embedded broker (Tansu). When
``OKR_TEST_KAFKA_BOOTSTRAP`` names an external broker (Apache Kafka, say
``OKR_TEST_KAFKA_BOOTSTRAP=127.0.0.1:9092``), the same tests run against it instead: before
each test every topic and consumer group on it is deleted, so that it looks as fresh as an
embedded one. Use a broker dedicated to the tests. Tests that stop or restart the broker
skip there (:class:`ExternalBroker`).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from kafka import TopicPartition

from shared.config import KafkaSettings
from shared.messaging.kafka_clients import new_admin, new_consumer

EXTERNAL_BOOTSTRAP = "OKR_TEST_KAFKA_BOOTSTRAP"


def external_bootstrap() -> str | None:
    """The external broker the tests should use, or None for a fresh embedded one each."""
    return os.environ.get(EXTERNAL_BOOTSTRAP, "").strip() or None


class ExternalBroker:
    """The ``broker`` fixture's stand-in for an external broker: it has an address, and a
    test that tries to stop or restart it is skipped (that needs the embedded broker)."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers

    def _cannot(self, what: str) -> None:
        pytest.skip(f"this test {what}s the broker, which needs the embedded one; "
                    f"{EXTERNAL_BOOTSTRAP} names an external broker")

    def stop(self) -> None:
        self._cannot("stop")

    def start(self) -> ExternalBroker:
        self._cannot("start")
        return self

    def restart(self) -> None:
        self._cannot("restart")


def reset_external_broker(settings: KafkaSettings, timeout: float = 30.0) -> None:
    """Delete every topic (and so every committed offset) and consumer group on the broker.

    Topic deletion is asynchronous on Kafka: wait until they are gone, else creating them
    again finds them "marked for deletion". A group that still has members (a process of
    an earlier test not yet timed out) cannot be deleted; its offsets went with the topics.
    """
    admin = new_admin(settings, "test-broker-reset")
    try:
        topics = [name for name in admin.list_topics() if not name.startswith("__")]
        if topics:
            admin.delete_topics(topics, raise_errors=False)
        deadline = time.monotonic() + timeout
        while set(topics) & set(admin.list_topics()):
            if time.monotonic() > deadline:
                raise AssertionError(f"the external broker kept topics {topics} for {timeout}s")
            time.sleep(0.1)
        groups = [group["group_id"] if isinstance(group, dict) else group[0]
                  for group in admin.list_groups()]
        if groups:
            try:
                admin.delete_groups(groups)
            except Exception as error:  # a group with members: its offsets are gone anyway
                print(f"external broker: some consumer groups not deleted: {error}")
    finally:
        admin.close()


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


class NotUtf8(str):
    """A header name that kafka-python's producer writes as bytes that are not UTF-8: a
    record that no client can read (its poll fails, naming no offset)."""

    def encode(self, *args: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        return b"\xff\xfe-bad-header"
