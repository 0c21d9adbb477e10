"""The dead-letter step: a record a consumer gives up on goes to ``<topic>.dlq`` with why.

The copy keeps the record's key and value as they were and adds ``okr-dlq-*`` headers:
the reason (short, printable ASCII, see :func:`~shared.messaging.failures.reason_for`),
where the record came from (topic, partition, offset) and which consumer group gave up.

Writing the copy can fail in two ways. The broker may be away (a retriable Kafka error):
the step waits with backoff and tries again, for as long as it takes, and the record stays
uncommitted meanwhile. Or the record itself cannot be written (larger than the producer or
broker takes, no key and no value, anything else the client refuses): then the step writes
the headers alone, with an empty value and no key, the reason saying what was left out;
the original stays readable at its source offset for as long as the topic keeps it.

A record the client could not read at all has no key or value to copy: the runner sends
its headers alone from the start (``copy=False``), the source headers saying where it is.
"""

from __future__ import annotations

import logging
import threading

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from shared.cloudevents import printable
from shared.config import KafkaSettings
from shared.contract import dead_letter_topic
from shared.messaging.backoff import Backoff
from shared.messaging.failures import NOT_A_RECORD_FAILURE
from shared.messaging.kafka_clients import new_producer
from shared.observability.metrics import DEAD_LETTERED, EVENTS_CONSUMED, HANDLED_ERRORS

log = logging.getLogger(__name__)


class DeadLetters:
    """Writes the records one consumer group gives up on to their dead-letter topics."""

    def __init__(self, *, service: str, group_id: str, kafka: KafkaSettings,
                 client_id: str) -> None:
        self.service = service
        self.group_id = group_id
        self.kafka = kafka
        self.client_id = client_id
        self._producer: KafkaProducer | None = None

    def send(self, message: ConsumerRecord, reason: str, stop: threading.Event, *,
             copy: bool = True) -> bool:
        """Dead-letter ``message`` (its headers alone unless ``copy``); False if ``stop``
        was set before it was written."""
        backoff = Backoff(initial=0.2)
        whole = copy
        while not stop.is_set():
            try:
                self._write(message, reason, whole)
            except NOT_A_RECORD_FAILURE:
                raise
            except BaseException as error:
                if isinstance(error, KafkaError) and error.retriable:
                    HANDLED_ERRORS.labels(self.service, "dead_letter_unavailable").inc()
                    log.warning("cannot reach the dead-letter topic, retrying: %s", error)
                elif whole:  # this record cannot be written as it is: write its headers
                    whole = False
                    reason = (f"{printable(reason, 180)}; record not copied ({_size(message)}): "
                              f"{printable(f'{type(error).__name__}: {error}', 80)}")
                    continue
                else:
                    HANDLED_ERRORS.labels(self.service, "dead_letter_unavailable").inc()
                    log.warning("cannot write to the dead-letter topic, retrying: %s: %s",
                                type(error).__name__, error)
                    self._discard_producer()
                backoff.wait(stop)
                continue
            self._written(message, reason)
            return True
        return False

    def send_all(self, messages: list[tuple[ConsumerRecord, str]],
                 stop: threading.Event) -> bool:
        """Dead-letter each ``(record, reason)`` of ``messages``: all sent at once, then each
        acknowledgement awaited (one round trip for all, not one each); a record whose
        write failed goes through :meth:`send`. False if ``stop`` was set before all were
        written."""
        pending: list[tuple[ConsumerRecord, str, FutureRecordMetadata | None]] = []
        for message, reason in messages:
            try:
                future = self._send(message, reason, whole=True)
            except NOT_A_RECORD_FAILURE:
                raise
            except BaseException:  # written one by one below, with the whole policy
                future = None
            pending.append((message, reason, future))
        timeout = self.kafka.request_timeout_ms / 1000 * 2
        for message, reason, future in pending:
            if future is not None:
                try:
                    future.get(timeout=timeout)
                except NOT_A_RECORD_FAILURE:
                    raise
                except BaseException:
                    future = None
                else:
                    self._written(message, reason)
            if future is None and not self.send(message, reason, stop):
                return False
        return True

    def prepare(self, topics: list[str]) -> None:
        """Connect and learn the dead-letter topics now, so that the first dead letter does
        not hold up the poll loop (best effort: :meth:`send` connects when it must)."""
        try:
            producer = self._connected()
            for topic in topics:
                producer.partitions_for(dead_letter_topic(topic))
        except KafkaError as error:
            log.info("dead-letter producer not ready yet: %s", error)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None

    def _connected(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = new_producer(self.kafka, client_id=f"{self.client_id}-dlq")
        return self._producer

    def _written(self, message: ConsumerRecord, reason: str) -> None:
        DEAD_LETTERED.labels(self.service, message.topic).inc()
        EVENTS_CONSUMED.labels(self.service, message.topic, "dead_lettered").inc()
        HANDLED_ERRORS.labels(self.service, "dead_lettered").inc()
        log.warning("dead-lettered %s[%d]@%d: %s", message.topic, message.partition,
                    message.offset, reason)

    def _write(self, message: ConsumerRecord, reason: str, whole: bool) -> None:
        future = self._send(message, reason, whole)
        future.get(timeout=self.kafka.request_timeout_ms / 1000 * 2)

    def _send(self, message: ConsumerRecord, reason: str, whole: bool
              ) -> FutureRecordMetadata:
        headers = [
            ("okr-dlq-reason", printable(reason).encode("ascii")),
            ("okr-dlq-source-topic", message.topic.encode()),
            ("okr-dlq-source-partition", str(message.partition).encode()),
            ("okr-dlq-source-offset", str(message.offset).encode()),
            ("okr-dlq-consumer", self.group_id.encode()),
        ]
        key, value = (message.key, message.value) if whole else (None, b"")
        return self._connected().send(dead_letter_topic(message.topic), key=key, value=value,
                                      headers=headers)

    def _discard_producer(self) -> None:
        """Drop a producer that may be broken (closed, in an error state); the next send
        makes a new one."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=1)
            except Exception as error:  # closing a broken producer: nothing more to do
                log.debug("closing the dead-letter producer failed: %s", error)


def unreadable(topic: str, partition: int, offset: int) -> ConsumerRecord:
    """What the dead-letter step needs of a record the client could not read: where it is."""
    return ConsumerRecord(topic, partition, -1, offset, -1, -1, None, None, [], None, -1, -1,
                          -1)


def _size(message: ConsumerRecord) -> str:
    key, value = message.key, message.value
    return (("no key" if key is None else f"key of {len(key)} bytes") + ", "
            + ("no value" if value is None else f"value of {len(value)} bytes"))
