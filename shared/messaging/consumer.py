"""The consumer runner: one record at a time through named steps, the commit always last.

    poll -> decode -> handle + record the event id (one transaction) -> commit
                  \\-> on failure: retry (transient) or dead-letter (permanent)

* **poll**: a batch from Kafka; on a new assignment, the partitions start from the group's
  committed offset (:mod:`shared.messaging.rebalance`).
* **decode**: :func:`~shared.cloudevents.parse_event`, which is total: bytes it cannot
  read are an :class:`~shared.cloudevents.InvalidEvent` with a printable reason.
* **handle + record**: the handler's effects and the event's id in the processed-event
  record (:mod:`shared.messaging.processed_events`) commit in one database transaction,
  so a redelivered event changes nothing (idempotent consumer). A handler that keeps
  state in memory is told by ``on_rollback`` whenever a transaction it ran in did not
  commit.
* **retry or dead-letter**: whatever decoding or handling raised is classified in one
  place (:mod:`shared.messaging.failures`): transient failures wait with
  :class:`~shared.messaging.backoff.Backoff` and try the same record again, uncommitted;
  anything else goes to ``<topic>.dlq`` with the reason (:mod:`shared.messaging.
  dead_letters`) and counts as finished. No exception of a record stops the runner.
* **unreadable records**: a record the client cannot read at all (bad CRC, a header name
  that is not UTF-8) makes ``poll`` itself fail. The runner finds it
  (:func:`~shared.messaging.failures.find_unreadable`), dead-letters its headers with the
  reason and its source offset, seeks past it and commits. A failed poll that no record
  explains is retried with backoff (a new client if the error was not a retriable Kafka
  error), never longer than a quarter of ``max_poll_interval_ms`` between polls, so the
  consumer stays in its group.
* **commit**: the offsets after the finished records, to Kafka, only after their work
  committed; lag from the fetch high watermark.

Batch mode (``batch_handler``): the whole polled batch is decoded and applied in ONE
transaction first; if anything in it fails, each half is tried the same way, down to a
single record, which goes through the steps above alone: one poison record is isolated and
dead-lettered and the rest applied, in a few dozen transactions however large the batch.
A handler that names the bad events of its batch before it changes anything
(:class:`~shared.messaging.failures.UnprocessableEvents`) has them dead-lettered together
and the rest applied at once: a batch made mostly of bad events costs two transactions.

Time between polls: past ``max_poll_interval_ms`` without a poll the client leaves its group,
the batch's offsets cannot be committed, and the whole batch comes back (its bad records
dead-lettered again, in a loop if isolating them takes that long each time). So a batch on
which half of that interval has passed since the last poll, and of which something is
finished, is cut short: what is finished is committed, each partition moved back to its
first record not finished (the batch read ahead dropped), and the next poll comes at once.
The next batch is no larger than what was finished; after a batch finished whole it
doubles, or, if that batch (of 50 records or more) took longer than a quarter of the
interval, it is what that batch's pace gets through in a quarter (a gathered batch is one
transaction: it cannot be cut short).

Gathered batches (``batch_records`` above ``max_records``): after a poll that returned
records, further polls add what the client has already fetched, up to ``batch_records``,
and the whole is one batch: one transaction, one offset commit after it. Such a poll waits
(at most ``GATHER_WAIT_MS``) only while the high watermark of the last fetch says that the
broker holds more of an assigned partition, so a consumer that keeps up gets what one poll
gives and never waits for records to arrive; one that lags writes each item it changed,
and tells each roll-up, once per gathered batch instead of once per poll. A poll that
fails ends the gathering; its error is handled as a poll's after the gathered records are
finished and committed, so every record before a partition's position has been handled
when it is.

Reading ahead (``read_ahead``, batch mode): while a batch's transaction runs, a second
thread polls and decodes the next batch (the database's waits release the interpreter's
lock, so the fetch and the decoding fill them). The client is used by one thread at a time:
the runner's thread waits for the reader before it commits the offsets, after the
transaction, and a poll's failure is handled only once the records polled before it are
finished and committed, as without reading ahead.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from sqlalchemy import Connection, Engine, Table

from shared.cloudevents import CloudEvent, InvalidEvent, parse_event, printable
from shared.config import KafkaSettings
from shared.contract import dead_letter_topic
from shared.messaging.backoff import MAX_BACKOFF_SECONDS, Backoff
from shared.messaging.broker_quirks import partition_lag
from shared.messaging.dead_letters import DeadLetters, unreadable
from shared.messaging.failures import (
    NOT_A_RECORD_FAILURE,
    TransientFailure,
    UnprocessableEvent,
    UnprocessableEvents,
    find_unreadable,
    is_transient,
    may_be_unreadable,
    reason_for,
    unreadable_reason,
)
from shared.messaging.kafka_clients import ensure_topics, new_consumer
from shared.messaging.processed_events import ProcessedEvents
from shared.messaging.rebalance import Batch, ResumeFromCommitted
from shared.observability.logging import log_context
from shared.observability.metrics import CONSUMER_LAG, EVENTS_CONSUMED, HANDLED_ERRORS
from shared.persistence.engine import writing

log = logging.getLogger(__name__)

GATHER_WAIT_MS = 100
"""How long a gathering poll waits for records that the broker is known to hold."""

MIN_BATCH_RECORDS = 10
#: Records a batch holds at least for its time to size the next one by its pace (a smaller
#: one's time is mostly its transaction's and its commit's).
PACE_SAMPLE = 50
"""The fewest records a batch is made smaller to after one that used the time between polls
(a batch is cut short as soon as something of it is finished anyway: this only spares a
slow machine polls of one record each)."""


@dataclass
class _Polled:
    """The records of one batch, and what came with them."""

    batch: Batch = field(default_factory=dict)
    error: BaseException | None = None  # a poll's, handled once the records are committed
    events: list[CloudEvent] | None = None  # the records decoded, in order (read ahead)

    def records(self) -> list[ConsumerRecord]:
        """The records in the order they are finished: partition by partition."""
        return [record for records in self.batch.values() for record in records]

EventHandler = Callable[[CloudEvent, Connection], None]
"""Applies one event's effect using the given connection, inside the runner's transaction."""

BatchHandler = Callable[[list[CloudEvent], Connection], None]
"""Applies several events' effects (in order) inside the runner's one transaction."""

__all__ = ["BatchHandler", "ConsumerRunner", "EventHandler", "TransientFailure",
           "UnprocessableEvent", "UnprocessableEvents"]


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
        batch_records: int | None = None,
        read_ahead: bool = False,
        client_id: str | None = None,
        batch_handler: BatchHandler | None = None,
        on_rollback: Callable[[], None] | None = None,
    ) -> None:
        if handler is None and batch_handler is None:
            raise ValueError("give a handler or a batch_handler")
        self.service = service
        self.group_id = group_id
        self.topics = topics
        self.handler = handler
        self.batch_handler = batch_handler
        self.on_rollback = on_rollback
        self.engine = engine
        self.processed = ProcessedEvents(processed_events, group_id)
        self.kafka = kafka
        self.max_records = max_records
        # records gathered from several polls into one batch (default: one poll's)
        self.batch_records = max(max_records, batch_records or max_records)
        self.client_id = client_id or f"{service}-{group_id}"
        self.consumer: KafkaConsumer | None = None
        self.dead_letters = DeadLetters(service=service, group_id=group_id, kafka=kafka,
                                        client_id=self.client_id)
        self._assignments = ResumeFromCommitted(self.forget_partition)
        # Between two polls: past max_poll_interval_ms the client leaves the group.
        self._poll_interval = kafka.max_poll_interval_ms / 1000
        self._poll_backoff = Backoff(initial=min(0.2, self._poll_interval / 4),
                                     maximum=min(MAX_BACKOFF_SECONDS, self._poll_interval / 4))
        # A batch is cut short once this long has passed since the last poll (and some of
        # it is finished); the rest is polled again. Its records at most, the next time.
        self._work_budget = self._poll_interval / 2
        self._last_poll = time.monotonic()  # when the client last polled (either thread)
        self._cap = self.batch_records  # the most the next batch may hold
        self._rollback_pending = False
        # the next batch, polled and decoded while the current one is applied
        self._reader = (ThreadPoolExecutor(1, thread_name_prefix=f"{self.client_id}-read-ahead")
                        if read_ahead and batch_handler is not None else None)
        self._ahead: Future[_Polled] | None = None

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then commit what was handled and leave the group."""
        if not self._connect(stop):
            return
        assert self.consumer is not None
        try:
            while not stop.is_set():
                self.poll_once(stop)
        finally:
            if self._reader is not None:
                self._reader.shutdown(wait=True)  # the reader done with the client
                self._ahead = None  # polled, not applied: fetched again from the offsets
            for tp in self.consumer.assignment():
                self.forget_partition(tp)  # a stopped consumer reports no lag
            self.consumer.close(autocommit=False)
            self.dead_letters.close()

    def poll_once(self, stop: threading.Event) -> int:
        """Finish one polled batch and commit it; return how many records were finished."""
        ahead, self._ahead = self._ahead, None
        polled = self._within_cap(ahead.result()) if ahead is not None else self._poll(stop)
        if (self._reader is not None and polled.batch and polled.error is None
                and not stop.is_set()):
            self._ahead = self._reader.submit(self._read_ahead, stop)
        began = time.monotonic()
        try:
            finished, count = self._finish_batch(polled, stop)
            worked = time.monotonic() - began  # the batch's own time, not the read-ahead's
        finally:
            if self._ahead is not None:
                wait([self._ahead])  # the client is the runner's again
        size = sum(len(records) for records in polled.batch.values())
        if count < size and not stop.is_set():  # cut short: the rest is polled again
            self._rewind(polled, count)
            self._cap = max(MIN_BATCH_RECORDS, count)
        elif size:
            self._cap = self._paced_cap(size, worked)
        self._commit(finished)
        self._report_lag()
        if polled.error is not None:  # a poll's, now that the records before it are done
            self._poll_error(polled.error, stop)
        return count

    def _within_cap(self, polled: _Polled) -> _Polled:
        """A batch read ahead while the one before it ran, cut to the cap that batch left
        (smaller when it was slow): each partition is moved back to its first record cut,
        fetched again by the next poll, as is a poll's failure after them."""
        records = polled.records()
        if len(records) <= self._cap:
            return polled
        kept: Batch = {}
        for record in records[:self._cap]:
            kept.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        self._seek_back(records[self._cap:])
        events = None if polled.events is None else polled.events[:self._cap]
        return _Polled(kept, None, events)

    def _paced_cap(self, size: int, seconds: float) -> int:
        """The next batch's size after one of ``size`` records worked through whole in
        ``seconds``: twice the cap, or, after a batch slower than a quarter of the poll
        interval, what its pace gets through in that quarter. A batch is one transaction
        that cannot be cut short: halving one that was slow (2,000 notifications at 3 ms
        each) let it double back into the next batch that outlasted the interval; sized by
        its pace, a batch doubled from it lasts about half the interval."""
        if size >= PACE_SAMPLE and seconds > self._work_budget / 2:
            paced = int(size * (self._work_budget / 2) / seconds)
            return max(MIN_BATCH_RECORDS, min(self.batch_records, paced))
        return min(self.batch_records, 2 * self._cap)

    def _over_budget(self) -> bool:
        """Whether the work since the last poll has used half of ``max_poll_interval_ms``:
        past all of it the client leaves the group, the offsets of the batch cannot be
        committed, and the whole batch comes back (its bad records dead-lettered again)."""
        return time.monotonic() - self._last_poll > self._work_budget

    def _rewind(self, polled: _Polled, count: int) -> None:
        """Move each partition back to its first record not finished, of ``polled`` (whose
        first ``count`` records are) or of the batch read ahead, which is dropped: the next
        poll comes now, and fetches them again. A poll's failure after them is met again."""
        assert self.consumer is not None
        ahead, self._ahead = self._ahead, None
        polled.error = None
        HANDLED_ERRORS.labels(self.service, "consumer_batch_cut").inc()
        log.warning("batch cut short after %d records to poll within max_poll_interval_ms; "
                    "the rest is polled again", count)
        self._seek_back(polled.records()[count:]
                        + ([] if ahead is None else ahead.result().records()))

    def _seek_back(self, records: list[ConsumerRecord]) -> None:
        """Move each partition of ``records`` back to its first one there: the next poll
        fetches them again."""
        assert self.consumer is not None
        positions: dict[TopicPartition, int] = {}
        for record in records:
            positions.setdefault(TopicPartition(record.topic, record.partition), record.offset)
        for tp, offset in positions.items():
            try:
                self.consumer.seek(tp, offset)
            except KafkaError as error:  # no longer assigned: its new owner starts there
                log.info("not moving %s back: %s", tp, error)

    def _finish_batch(self, polled: _Polled, stop: threading.Event
                      ) -> tuple[dict[TopicPartition, OffsetAndMetadata], int]:
        """Apply or dead-letter the records of ``polled``: the offsets to commit after them,
        and how many were finished."""
        records = polled.records()
        finished: dict[TopicPartition, OffsetAndMetadata] = {}
        if self.batch_handler is not None:
            return finished, self._finish_part(records, polled.events, finished, stop)
        count = 0
        for record in records:
            if finished and self._over_budget():
                break  # the rest is polled again
            if not self._finish(record, stop):
                break  # stopping mid-retry: this record stays uncommitted
            finished[TopicPartition(record.topic, record.partition)] = OffsetAndMetadata(
                record.offset + 1, "", -1)
            count += 1
        return finished, count

    def _finish_part(self, records: list[ConsumerRecord], events: list[CloudEvent] | None,
                     finished: dict[TopicPartition, OffsetAndMetadata],
                     stop: threading.Event) -> int:
        """Apply ``records`` (a batch's, in its order) in one transaction; if that fails,
        each half the same way, down to one record, which is applied or dead-lettered
        alone. One bad record in a gathered batch of thousands costs a few dozen
        transactions, not one a record (which outlasted the poll interval: the consumer
        left its group and did the batch again). A handler that names the bad events
        (:class:`UnprocessableEvents`) has them dead-lettered and the rest applied at once.
        Returns how many were finished, from the first: fewer when ``stop`` was set or
        the time between polls ran out (:meth:`_over_budget`) with some finished."""
        if not records or (finished and self._over_budget()):
            return 0
        if len(records) == 1:
            [record] = records
            if not self._finish(record, stop):
                return 0  # stopping mid-retry: this record stays uncommitted
        elif (rejected := self._apply_whole(records, events)) is not None:
            if rejected:
                return self._finish_rejecting(records, events, rejected, finished, stop)
            half = len(records) // 2
            done = self._finish_part(records[:half], events and events[:half], finished, stop)
            if done < half:
                return done
            return done + self._finish_part(records[half:], events and events[half:],
                                            finished, stop)
        _mark(finished, records)
        return len(records)

    def _finish_rejecting(self, records: list[ConsumerRecord], events: list[CloudEvent] | None,
                          rejected: dict[int, str],
                          finished: dict[TopicPartition, OffsetAndMetadata],
                          stop: threading.Event) -> int:
        """Finish the records ``rejected`` does not name as a part of their own, then
        dead-letter (with its reasons) those it names before the first record left
        unfinished; how many of ``records`` were finished, from the first. A named record
        after that one is dead-lettered when it comes again, so once (not once before a
        cut and again after it)."""
        log.warning("batch of %d: %d events unprocessable, applying the rest and "
                    "dead-lettering them", len(records), len(rejected))
        rest = [position for position in range(len(records)) if position not in rejected]
        done = self._finish_part([records[position] for position in rest],
                                 events and [events[position] for position in rest],
                                 {}, stop)  # its own progress: the rest is tried at once
        count = len(records) if done == len(rest) else rest[done]
        dead = sorted(position for position in rejected if position < count)
        if not self.dead_letters.send_all([(records[position], rejected[position])
                                           for position in dead], stop):
            count = dead[0]  # stopping: from the first not known to be written
        _mark(finished, records[:count])
        return count

    def forget_partition(self, tp: TopicPartition) -> None:
        with contextlib.suppress(KeyError):  # no lag reported yet for this partition
            CONSUMER_LAG.remove(self.service, tp.topic, str(tp.partition))

    # -- the steps -----------------------------------------------------------------------

    def _connect(self, stop: threading.Event) -> bool:
        """Create the topics and join the group, waiting while the broker is away; False
        if stopped first."""
        backoff = Backoff(initial=0.2)
        while not stop.is_set():
            try:
                ensure_topics(self.kafka, f"{self.client_id}-admin",
                              self.topics + [dead_letter_topic(t) for t in self.topics])
                self.dead_letters.prepare(self.topics)
                self.consumer = new_consumer(self.kafka, self.client_id, self.group_id)
                self.consumer.subscribe(self.topics, listener=self._assignments)
                return True
            except KafkaError as error:
                HANDLED_ERRORS.labels(self.service, "consumer_broker_unavailable").inc()
                log.warning("broker unavailable, waiting: %s", error)
                backoff.wait(stop)
        return False

    def _poll(self, stop: threading.Event) -> _Polled:
        """The next batch, without records that a new assignment will fetch again: one
        poll's records, and what the client has fetched or the broker is known to hold
        after them, up to ``batch_records``. Every record polled before is finished."""
        assert self.consumer is not None
        try:
            self._last_poll = time.monotonic()
            batch = self.consumer.poll(timeout_ms=500,
                                       max_records=min(self.max_records, self._cap))
        except NOT_A_RECORD_FAILURE:
            raise
        except BaseException as error:
            self._poll_error(error, stop)
            return _Polled()
        polled = _Polled(self._resume_assigned(batch, stop))
        if polled.batch and self.batch_records > self.max_records:  # gathering asked for
            self._gather(polled, stop)
        return polled

    def _read_ahead(self, stop: threading.Event) -> _Polled:
        """The batch after the one being applied, decoded (on the reader's thread): what the
        client has fetched or the broker is known to hold, up to ``batch_records``, without
        waiting for more to arrive. A poll's failure is kept with it, handled after it."""
        polled = _Polled()
        self._gather(polled, stop)
        if polled.batch:
            try:
                polled.events = [parse_event(record.value)
                                 for records in polled.batch.values() for record in records]
            except NOT_A_RECORD_FAILURE:
                raise
            except BaseException:
                polled.events = None  # decoded again when applied, which finds the bad one
        return polled

    def _gather(self, polled: _Polled, stop: threading.Event) -> None:
        """Add to ``polled`` what further polls give, up to ``batch_records``; a poll that
        fails ends it, its error kept for after the batch."""
        assert self.consumer is not None
        count = sum(len(records) for records in polled.batch.values())
        wanted = min(self.batch_records, self._cap)
        while count < wanted and not stop.is_set():
            limit = min(self.max_records, wanted - count)
            try:
                self._last_poll = time.monotonic()
                more = self.consumer.poll(timeout_ms=0, max_records=limit)
                if not more and self._behind():  # fetched records are on their way
                    self._last_poll = time.monotonic()
                    more = self.consumer.poll(timeout_ms=GATHER_WAIT_MS, max_records=limit)
            except NOT_A_RECORD_FAILURE:
                raise
            except BaseException as error:
                polled.error = error
                return
            if not more:
                return
            for tp, records in more.items():
                polled.batch.setdefault(tp, []).extend(records)
            polled.batch = self._resume_assigned(polled.batch, stop)
            count = sum(len(records) for records in polled.batch.values())

    def _behind(self) -> bool:
        """Whether the broker holds records past what the client returned, for a partition
        assigned (the high watermark of its last fetch: no request)."""
        assert self.consumer is not None
        try:
            return any((partition_lag(self.consumer, tp) or 0) > 0
                       for tp in self.consumer.assignment())
        except KafkaError:  # a partition no longer assigned: gather no more
            return False

    def _resume_assigned(self, batch: Batch, stop: threading.Event) -> Batch:
        """``batch`` without the records of newly assigned partitions, which start again
        from their committed offsets."""
        assert self.consumer is not None
        batch, seek_error = self._assignments.seek_pending(self.consumer, batch,
                                                           self.kafka.request_timeout_ms)
        if seek_error is not None:  # the other partitions' records are handled meanwhile
            self._poll_failed(seek_error, stop)
        else:
            self._poll_backoff.reset()
        return batch

    def _poll_error(self, error: BaseException, stop: threading.Event) -> None:
        """A record the client cannot read (bad CRC, a header name that is not UTF-8) is
        skipped; anything else (the broker away) is waited out, nothing skipped."""
        if not (may_be_unreadable(error) and self._skip_unreadable(stop)):
            self._poll_failed(error, stop)

    def _skip_unreadable(self, stop: threading.Event) -> bool:
        """Dead-letter each record that the client cannot read and move past it; False if
        none was found (the failure was something else)."""
        assert self.consumer is not None
        # Newly assigned partitions start from the committed offset first: every record
        # before a partition's position has then been handled.
        _, seek_error = self._assignments.seek_pending(self.consumer, {},
                                                       self.kafka.request_timeout_ms)
        found = None if seek_error is not None else find_unreadable(
            self.consumer, self.kafka, f"{self.client_id}-reader", self._poll_interval / 2)
        if not found:
            self._replace_consumer()
            return False
        for tp, (offset, error) in sorted(found.items()):
            HANDLED_ERRORS.labels(self.service, "consumer_unreadable_record").inc()
            log.error("record %s[%d]@%d cannot be read, dead-lettering it: %s: %s", tp.topic,
                      tp.partition, offset, type(error).__name__, error)
            if not self.dead_letters.send(unreadable(tp.topic, tp.partition, offset),
                                          unreadable_reason(error), stop, copy=False):
                return True  # stopping: the record stays uncommitted
            self.consumer.seek(tp, offset + 1)
            self._commit({tp: OffsetAndMetadata(offset + 1, "", -1)})
        self._poll_backoff.reset()
        return True

    def _replace_consumer(self) -> None:
        """A new client in place of one whose poll failed for no record it could name:
        kafka-python may otherwise loop for ever in its next poll. The new one joins the
        group and starts from the committed offsets."""
        assert self.consumer is not None
        try:
            replacement = new_consumer(self.kafka, self.client_id, self.group_id)
        except NOT_A_RECORD_FAILURE:
            raise
        except BaseException as error:  # the broker away: keep the old one, try again later
            log.warning("cannot replace the consumer: %s: %s", type(error).__name__, error)
            return
        HANDLED_ERRORS.labels(self.service, "consumer_replaced").inc()
        old, self.consumer = self.consumer, replacement
        with contextlib.suppress(Exception):  # a broken client: nothing more to do
            for tp in old.assignment():
                self.forget_partition(tp)
            old.close(autocommit=False)
        self.consumer.subscribe(self.topics, listener=self._assignments)

    def _poll_failed(self, error: BaseException, stop: threading.Event) -> None:
        HANDLED_ERRORS.labels(self.service, "consumer_poll_failed").inc()
        log.warning("poll failed, retrying: %s: %s", type(error).__name__, error)
        self._poll_backoff.wait(stop)

    def _apply_whole(self, records: list[ConsumerRecord],
                     events: list[CloudEvent] | None = None) -> dict[int, str] | None:
        """Decode (unless ``events`` holds them) and apply ``records`` in one transaction.

        None if that committed. Otherwise nothing of it did, and the positions of the
        records the handler named unprocessable, with why (:class:`UnprocessableEvents`):
        empty if it named none, and then the halves find the bad records."""
        try:
            if events is None:
                events = [parse_event(record.value) for record in records]
        except NOT_A_RECORD_FAILURE:
            raise
        except BaseException:
            return {}  # the halves find and dead-letter the bad record
        try:
            outcomes = self.apply_batch(events)
        except NOT_A_RECORD_FAILURE:
            raise
        except BaseException as error:
            HANDLED_ERRORS.labels(self.service, "consumer_batch_fallback").inc()
            if isinstance(error, UnprocessableEvents):
                return _positions(events, error.reasons)
            log.warning("batch of %d failed, handling it in halves: %s",
                        len(events), reason_for(error))
            return {}
        counts = Counter(zip((record.topic for record in records), outcomes, strict=True))
        for (topic, outcome), count in counts.items():  # one increment per label set
            EVENTS_CONSUMED.labels(self.service, topic, outcome).inc(count)
        return None

    def _finish(self, record: ConsumerRecord, stop: threading.Event) -> bool:
        """Apply or dead-letter one record; False if ``stop`` was set before either."""
        backoff = Backoff()
        while not stop.is_set():
            try:
                event = parse_event(record.value)
                with log_context(event_id=event.id, event_type=event.type):
                    [outcome] = self.apply_batch([event])
                EVENTS_CONSUMED.labels(self.service, record.topic, outcome).inc()
                return True
            except NOT_A_RECORD_FAILURE:
                raise
            except BaseException as error:
                if not is_transient(error):
                    if not isinstance(error, InvalidEvent | UnprocessableEvent):
                        log.error("record %s[%d]@%d failed", record.topic, record.partition,
                                  record.offset, exc_info=error)  # a bug: keep its trace
                    return self.dead_letters.send(record, reason_for(error), stop)
                HANDLED_ERRORS.labels(self.service, "consumer_transient").inc()
                log.warning("transient failure, retrying: %s", reason_for(error))
                backoff.wait(stop)
        return False

    def apply_batch(self, events: list[CloudEvent]) -> list[str]:
        """Apply ``events`` in one transaction; their outcomes (applied or duplicate), in
        order. If it does not commit, ``on_rollback`` has run and the error propagates."""
        self._restore_handler_state()
        handled = False
        try:
            with writing(self.engine).begin() as connection:
                fresh = self.processed.record_new(connection, {event.id for event in events})
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
                    self._handle(new, connection)
            return outcomes
        except BaseException:
            if handled:
                self._rollback_pending = True
                with contextlib.suppress(TransientFailure):  # tried again before the next
                    self._restore_handler_state()
            raise

    def _handle(self, events: list[CloudEvent], connection: Connection) -> None:
        if self.batch_handler is not None:
            self.batch_handler(events, connection)
            return
        assert self.handler is not None
        for event in events:
            self.handler(event, connection)

    def _restore_handler_state(self) -> None:
        """Run ``on_rollback`` if a transaction the handler ran in did not commit.

        Until it succeeds nothing is applied: its failure is transient for every record.
        """
        if not self._rollback_pending:
            return
        if self.on_rollback is not None:
            try:
                self.on_rollback()
            except NOT_A_RECORD_FAILURE:
                raise
            except BaseException as error:
                HANDLED_ERRORS.labels(self.service, "consumer_rollback_failed").inc()
                raise TransientFailure(f"on_rollback failed: {reason_for(error)}") from error
        self._rollback_pending = False

    def _commit(self, finished: dict[TopicPartition, OffsetAndMetadata]) -> None:
        assert self.consumer is not None
        if not finished:
            return
        try:
            self.consumer.commit(finished)
        except NOT_A_RECORD_FAILURE:
            raise
        except BaseException as error:
            # The group moved on (rebalance, broker restart): these records come back to
            # whoever owns the partition, and the processed-event records drop them.
            HANDLED_ERRORS.labels(self.service, "consumer_commit_failed").inc()
            log.warning("offset commit failed: %s: %s", type(error).__name__, error)

    def _report_lag(self) -> None:
        assert self.consumer is not None
        try:
            for tp in self.consumer.assignment():
                lag = partition_lag(self.consumer, tp)
                if lag is not None:
                    CONSUMER_LAG.labels(self.service, tp.topic, str(tp.partition)).set(lag)
        except KafkaError as error:  # reported again after the next poll
            log.debug("lag not known yet: %s", error)


def _mark(finished: dict[TopicPartition, OffsetAndMetadata],
          records: list[ConsumerRecord]) -> None:
    """Note ``records`` as finished: the offset after each partition's last one."""
    for record in records:  # in order: each partition's last one stays
        finished[TopicPartition(record.topic, record.partition)] = OffsetAndMetadata(
            record.offset + 1, "", -1)


def _positions(events: list[CloudEvent], reasons: dict[str, str]) -> dict[int, str]:
    """The position in ``events`` of each event id ``reasons`` names (its first copy: the
    one a batch handler was given), with why, as a dead letter says it."""
    positions: dict[int, str] = {}
    named = dict(reasons)
    for position, event in enumerate(events):
        reason = named.pop(event.id, None)
        if reason is not None:
            positions[position] = printable(f"unprocessable: {reason}")
    return positions
