"""The consumer runner: decode -> handle -> record the event id -> commit, in that order.

* The effect of an event and the record of its id commit in one database transaction, so
  a redelivered event changes nothing (idempotent consumer).
* Offsets are committed to Kafka only after the messages before them were handled.
* A message that is not a valid CloudEvent, or that its handler declares unprocessable,
  is a *poison* message: it goes to ``<topic>.dlq`` with the reason in its headers and the
  consumer moves on.
* A *transient* failure (database or broker unreachable) is retried with capped
  exponential backoff, without committing; other handler exceptions are retried a few
  times and then dead-lettered with the exception as the reason.
* Lag comes from the high watermark that fetch responses carry.
* Batch mode (``batch_handler``): the whole polled batch is applied in ONE transaction:
  one multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` records the ids and tells
  which were new, and the handler gets the list of new events. If that transaction fails,
  the batch is handled again one event at a time, so a poison message is still isolated and
  dead-lettered. ``on_rollback`` is called whenever a transaction in which a handler ran
  did not commit (a handler that keeps state in memory drops it there).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from kafka import AsyncConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from sqlalchemy import Connection, Engine, String, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from shared.cloudevents import CloudEvent, InvalidEvent, parse_event
from shared.config import KafkaSettings
from shared.contract import dead_letter_topic
from shared.messaging.kafka_clients import ensure_topics, new_consumer, new_producer
from shared.observability.logging import log_context
from shared.observability.metrics import (
    CONSUMER_LAG,
    DEAD_LETTERED,
    EVENTS_CONSUMED,
    HANDLED_ERRORS,
)
from shared.persistence.engine import writing

log = logging.getLogger(__name__)

EventHandler = Callable[[CloudEvent, Connection], None]
"""Applies one event's effect using the given connection, inside the runner's transaction."""

BatchHandler = Callable[[list[CloudEvent], Connection], None]
"""Applies several events' effects (in order) inside the runner's one transaction."""

ID_CHUNK = 1000  # event ids per multi-row insert (SQLite)


class UnprocessableEvent(Exception):
    """Raised by a handler for an event that can never be applied; it is dead-lettered."""


class TransientFailure(Exception):
    """Raised by a handler for a failure that may pass (a dependency is down); retried."""


MAX_BACKOFF_SECONDS = 5.0


class _SeekToCommitted(AsyncConsumerRebalanceListener):
    """On every assignment start from the group's committed offset, never a stale position.

    After a broker that lost its topics comes back, an in-memory position may point into
    a recreated log; the committed offset (or the beginning, if none) is the truth.

    kafka-python 3 runs listeners on the consumer's IO loop, where the blocking
    ``consumer.committed()`` raises ``RuntimeError`` (and the join fails); so this listener
    is async and awaits the coordinator's async offset fetch instead.
    """

    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            self.runner.forget_partition(tp)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        consumer = self.runner.consumer
        assert consumer is not None
        assigned = set(assigned)
        if not assigned:
            return
        committed = await consumer._coordinator.fetch_committed_offsets_async(
            assigned, timeout_ms=self.runner.kafka.request_timeout_ms)
        for tp in assigned:
            offset = committed.get(tp)
            if offset is None or offset.offset < 0:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset.offset)


class ConsumerRunner:
    def __init__(
        self,
        *,
        service: str,
        group_id: str,
        topics: list[str],
        handler: EventHandler | None = None,
        engine: Engine,
        processed_events: Table,
        kafka: KafkaSettings,
        max_records: int = 200,
        max_handler_attempts: int = 3,
        client_id: str | None = None,
        batch_handler: BatchHandler | None = None,
        on_rollback: Callable[[], None] | None = None,
    ) -> None:
        if handler is None:
            if batch_handler is None:
                raise ValueError("give a handler or a batch_handler")
            handler = _one_at_a_time(batch_handler)
        self.service = service
        self.group_id = group_id
        self.topics = topics
        self.handler = handler
        self.batch_handler = batch_handler
        self.on_rollback = on_rollback
        self.engine = engine
        self.processed = processed_events
        self.kafka = kafka
        self.max_records = max_records
        self.max_handler_attempts = max_handler_attempts
        self.client_id = client_id or f"{service}-{group_id}"
        self.consumer: KafkaConsumer | None = None
        self._dead_letter_producer: KafkaProducer | None = None

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then commit what was handled and leave the group."""
        backoff = 0.2
        while not stop.is_set():
            try:
                ensure_topics(self.kafka, f"{self.client_id}-admin",
                              self.topics + [dead_letter_topic(t) for t in self.topics])
                break
            except KafkaError as error:
                HANDLED_ERRORS.labels(self.service, "consumer_broker_unavailable").inc()
                log.warning("broker unavailable, waiting: %s", error)
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        if stop.is_set():
            return
        self.consumer = new_consumer(self.kafka, self.client_id, self.group_id)
        self.consumer.subscribe(self.topics, listener=_SeekToCommitted(self))
        try:
            while not stop.is_set():
                self.poll_once(stop)
        finally:
            for tp in self.consumer.assignment():
                self.forget_partition(tp)  # a stopped consumer reports no lag
            self.consumer.close(autocommit=False)
            if self._dead_letter_producer is not None:
                self._dead_letter_producer.close(timeout=5)

    def poll_once(self, stop: threading.Event) -> int:
        """Handle one polled batch and commit it; return how many messages were finished."""
        assert self.consumer is not None
        batch = self.consumer.poll(timeout_ms=500, max_records=self.max_records)
        finished: dict[TopicPartition, OffsetAndMetadata] = {}
        count = 0
        if self.batch_handler is not None and batch:
            count = self._process_batch(batch)
            if count:
                finished = {tp: OffsetAndMetadata(messages[-1].offset + 1, "", -1)
                            for tp, messages in batch.items()}
                batch = {}  # all finished; else handled one at a time below
        for tp, messages in batch.items():
            for message in messages:
                if not self._process(message, stop):
                    break  # stopping mid-retry: this message stays uncommitted
                finished[tp] = OffsetAndMetadata(message.offset + 1, "", -1)
                count += 1
            if stop.is_set():
                break
        if finished:
            try:
                self.consumer.commit(finished)
            except (CommitFailedError, KafkaError) as error:
                # The group moved on (rebalance, broker restart): these messages come back
                # to whoever owns the partition, and the processed-event records drop them.
                HANDLED_ERRORS.labels(self.service, "consumer_commit_failed").inc()
                log.warning("offset commit failed: %s", error)
        self._report_lag()
        return count

    def forget_partition(self, tp: TopicPartition) -> None:
        with contextlib.suppress(KeyError):  # no lag reported yet for this partition
            CONSUMER_LAG.remove(self.service, tp.topic, str(tp.partition))

    # -- a whole batch -------------------------------------------------------------------

    def _process_batch(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> int:
        """Apply every message of the batch in one transaction; 0 if it must go one by one."""
        messages = [message for messages in batch.values() for message in messages]
        try:
            events = [parse_event(message.value) for message in messages]
        except InvalidEvent:
            return 0  # the one-by-one path dead-letters the bad message
        try:
            outcomes = self.apply_batch(events)
        except Exception as error:
            HANDLED_ERRORS.labels(self.service, "consumer_batch_fallback").inc()
            log.warning("batch of %d failed, handling it one event at a time: %s: %s",
                        len(events), type(error).__name__, error)
            return 0
        for message, outcome in zip(messages, outcomes, strict=True):
            EVENTS_CONSUMED.labels(self.service, message.topic, outcome).inc()
        return len(messages)

    def apply_batch(self, events: list[CloudEvent]) -> list[str]:
        """Apply ``events`` in one transaction; their outcomes (applied or duplicate), in
        order. If it does not commit, ``on_rollback`` has run and the error propagates."""
        assert self.batch_handler is not None
        handled = False
        try:
            with writing(self.engine).begin() as connection:
                fresh = self._record_new_ids(connection, {event.id for event in events})
                outcomes, new = [], []
                for event in events:
                    if event.id in fresh:
                        fresh.discard(event.id)  # a second copy in this batch is a duplicate
                        new.append(event)
                        outcomes.append("applied")
                    else:
                        outcomes.append("duplicate")
                if new:
                    handled = True
                    self.batch_handler(new, connection)
            return outcomes
        except BaseException:
            if handled and self.on_rollback is not None:
                self.on_rollback()
            raise

    def _record_new_ids(self, connection: Connection, ids: set[str]) -> set[str]:
        """Record ``ids`` as processed in the batch's transaction; return those that were not.

        One ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` finds and records the new ids
        (the same transaction applies their effects, so the order inside it does not
        matter); it goes through the primary key index whatever the planner thinks of the
        table, and a group member recording the same ids concurrently waits for ours.
        Ids are inserted sorted, so two such transactions cannot deadlock.
        """
        table = self.processed
        now = datetime.now(UTC)
        ordered = sorted(ids)
        if connection.dialect.name == "postgresql":
            # one array parameter: a short statement the driver prepares once
            unnested = select(bindparam("consumer", type_=String),
                              func.unnest(bindparam("ids", type_=postgresql.ARRAY(String))),
                              bindparam("at", type_=table.c.processed_at.type))
            statement = (postgresql.insert(table)
                         .from_select(["consumer", "event_id", "processed_at"], unnested)
                         .on_conflict_do_nothing().returning(table.c.event_id))
            return set(connection.execute(statement, {
                "consumer": self.group_id, "ids": ordered, "at": now}).scalars())
        fresh: set[str] = set()
        statement = sqlite.insert(table).on_conflict_do_nothing().returning(table.c.event_id)
        for start in range(0, len(ordered), ID_CHUNK):
            fresh.update(connection.execute(statement, [
                {"consumer": self.group_id, "event_id": event_id, "processed_at": now}
                for event_id in ordered[start:start + ID_CHUNK]]).scalars())
        return fresh

    # -- one message ---------------------------------------------------------------------

    def _process(self, message: ConsumerRecord, stop: threading.Event) -> bool:
        """Finish one message (applied, duplicate or dead-lettered); False if stopped first."""
        try:
            event = parse_event(message.value)
        except InvalidEvent as error:
            return self._dead_letter(message, f"invalid event: {error}", stop)
        attempts = 0
        backoff = 0.1
        with log_context(event_id=event.id, event_type=event.type):
            while not stop.is_set():
                try:
                    outcome = self._apply(event)
                    EVENTS_CONSUMED.labels(self.service, message.topic, outcome).inc()
                    return True
                except UnprocessableEvent as error:
                    return self._dead_letter(message, f"unprocessable: {error}", stop)
                except (TransientFailure, OperationalError) as error:
                    HANDLED_ERRORS.labels(self.service, "consumer_transient").inc()
                    log.warning("transient failure, retrying: %s", error)
                except DBAPIError as error:
                    if not error.connection_invalidated:
                        attempts += 1
                        if attempts >= self.max_handler_attempts:
                            return self._dead_letter(message, f"database error: {error.orig}", stop)
                    HANDLED_ERRORS.labels(self.service, "consumer_database_error").inc()
                except Exception as error:  # a bug or bad data: retry a little, then dead-letter
                    attempts += 1
                    HANDLED_ERRORS.labels(self.service, "consumer_handler_error").inc()
                    log.exception("handler failed (attempt %d)", attempts)
                    if attempts >= self.max_handler_attempts:
                        return self._dead_letter(
                            message, f"handler failed: {type(error).__name__}: {error}", stop
                        )
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        return False

    def _apply(self, event: CloudEvent) -> str:
        table = self.processed
        handled = False
        try:
            try:
                with writing(self.engine).begin() as connection:
                    seen = connection.execute(
                        select(table.c.event_id).where(
                            table.c.consumer == self.group_id, table.c.event_id == event.id
                        )
                    ).first()
                    if seen is not None:
                        return "duplicate"
                    handled = True
                    self.handler(event, connection)
                    connection.execute(
                        table.insert().values(
                            consumer=self.group_id, event_id=event.id,
                            processed_at=datetime.now(UTC)
                        )
                    )
                return "applied"
            except BaseException:
                if handled and self.on_rollback is not None:
                    self.on_rollback()
                raise
        except IntegrityError:
            # Another member of the group recorded this event id first (after a rebalance).
            with self.engine.connect() as connection:
                seen = connection.execute(
                    select(table.c.event_id).where(
                        table.c.consumer == self.group_id, table.c.event_id == event.id
                    )
                ).first()
            if seen is not None:
                return "duplicate"
            raise

    def _dead_letter(self, message: ConsumerRecord, reason: str, stop: threading.Event) -> bool:
        backoff = 0.2
        while not stop.is_set():
            try:
                if self._dead_letter_producer is None:
                    self._dead_letter_producer = new_producer(
                        self.kafka, client_id=f"{self.client_id}-dlq"
                    )
                headers = [
                    ("okr-dlq-reason", reason.encode()),
                    ("okr-dlq-source-topic", message.topic.encode()),
                    ("okr-dlq-source-partition", str(message.partition).encode()),
                    ("okr-dlq-source-offset", str(message.offset).encode()),
                    ("okr-dlq-consumer", self.group_id.encode()),
                ]
                future = self._dead_letter_producer.send(
                    dead_letter_topic(message.topic), key=message.key, value=message.value,
                    headers=headers,
                )
                future.get(timeout=self.kafka.request_timeout_ms / 1000 * 2)
                DEAD_LETTERED.labels(self.service, message.topic).inc()
                EVENTS_CONSUMED.labels(self.service, message.topic, "dead_lettered").inc()
                HANDLED_ERRORS.labels(self.service, "dead_lettered").inc()
                log.warning("dead-lettered %s[%d]@%d: %s", message.topic, message.partition,
                            message.offset, reason)
                return True
            except KafkaError as error:
                HANDLED_ERRORS.labels(self.service, "dead_letter_unavailable").inc()
                log.warning("cannot reach the dead-letter topic, retrying: %s", error)
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        return False

    def _report_lag(self) -> None:
        assert self.consumer is not None
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is None:
                continue
            position = self.consumer.position(tp, timeout_ms=0)
            if position is None:
                continue
            CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(
                max(0, highwater - position)
            )


def _one_at_a_time(batch_handler: BatchHandler) -> EventHandler:
    def handle(event: CloudEvent, connection: Connection) -> None:
        batch_handler([event], connection)
    return handle
