"""The retry policy of a consumer: the one place that decides what a failed record means.

Whatever decoding or applying one record raised is either

* **transient**: the record is fine, something it needs is away (the database, the
  broker). Nothing is committed; the consumer waits (:class:`~shared.messaging.backoff.
  Backoff`) and tries the same record again, for as long as it takes; or
* **permanent**: anything else. The record, or the code applying it, fails the same way
  every time: it is dead-lettered with the reason, committed, and the consumer goes on.

Exceptions the runner does not recognise (a ``KeyError`` in a handler, ``RecursionError``,
``OverflowError``, ``MemoryError``, a ``BaseException`` subclass of a library) are
permanent at once, not retried: nothing tells a bug's second failure from its first,
every retry holds up the records behind it on the partition, and the record is not lost
(the dead-letter topic keeps it with its source offset, to replay after a fix). A batch
handler's record has in fact been tried twice by then: in its batch, and alone after the
rollback hook reset the handler's memory. A handler that knows a failure may pass raises
:class:`TransientFailure`.

Only ``KeyboardInterrupt``, ``SystemExit`` and ``GeneratorExit`` are not a record's
failure: they are :data:`NOT_A_RECORD_FAILURE` and propagate.

A record the Kafka client cannot read at all (a batch or record whose CRC does not match,
a header name that is not UTF-8, a codec the client lacks) fails in ``poll`` itself,
before the runner sees it, with an error that names neither its partition nor its offset
(kafka-python's record parsing raises ``CorruptRecordError`` with no attributes). It is
permanent too: :func:`find_unreadable` finds it by reading, with a throwaway consumer
outside the group, the record at the position of each assigned partition that has
something left to read; the runner dead-letters where it is (headers only: there are no
bytes to copy) and moves past it. A failed poll that no partition reproduces (the broker
away) stays transient; the runner then replaces its client, whose state it cannot trust
(kafka-python, after a record it could not parse, loops for ever in its next poll unless
the partition's position moved).
"""

from __future__ import annotations

import logging
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared.cloudevents import InvalidEvent, printable
from shared.config import KafkaSettings
from shared.messaging.kafka_clients import new_consumer

log = logging.getLogger(__name__)


class UnprocessableEvent(Exception):
    """Raised by a handler for an event that can never be applied; it is dead-lettered."""


class UnprocessableEvents(UnprocessableEvent):
    """Raised by a batch handler, before it changed anything, for the events of its batch
    that can never be applied: ``reasons`` maps each one's id to why. The runner
    dead-letters those and applies the rest of the batch without them, so a batch made
    mostly of bad events costs two transactions, not one for each bad event."""

    def __init__(self, reasons: dict[str, str]) -> None:
        if not reasons:
            raise ValueError("name at least one event")
        first = next(iter(reasons.values()))
        more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
        super().__init__(f"{first}{more}")
        self.reasons = reasons


class TransientFailure(Exception):
    """Raised by a handler for a failure that may pass (a dependency is down); retried."""


NOT_A_RECORD_FAILURE = (KeyboardInterrupt, SystemExit, GeneratorExit)
"""Exceptions that stop the process (or a generator), never classified as a record's."""

_TRANSIENT = (TransientFailure, OperationalError, DisconnectionError, PoolTimeout, KafkaError)


def is_transient(error: BaseException) -> bool:
    """True if the record should be tried again after a wait; False: dead-letter it."""
    if isinstance(error, _TRANSIENT):
        return True
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated)  # the connection died, not the statement
    return False


def reason_for(error: BaseException) -> str:
    """Why a record was dead-lettered: short, printable, safe to put in a Kafka header."""
    if isinstance(error, InvalidEvent):
        return printable(f"invalid event: {_text(error)}")
    if isinstance(error, UnprocessableEvent):
        return printable(f"unprocessable: {_text(error)}")
    if isinstance(error, DBAPIError):
        return printable(f"database error: {type(error.orig).__name__}: {_text(error.orig)}")
    return printable(f"handler failed: {type(error).__name__}: {_text(error)}")


def may_be_unreadable(error: BaseException) -> bool:
    """True if ``poll`` raising ``error`` may mean a record the client cannot read; False
    for a retriable Kafka error (the broker away), which is only waited out."""
    return not (isinstance(error, KafkaError) and error.retriable)


def unreadable_reason(error: BaseException) -> str:
    """Why a record the client cannot read was dead-lettered."""
    return printable(f"record could not be read: {type(error).__name__}: {_text(error)}")


def find_unreadable(consumer: KafkaConsumer, kafka: KafkaSettings, client_id: str,
                    timeout: float) -> dict[TopicPartition, tuple[int, BaseException]] | None:
    """Every assigned partition whose next record ``consumer`` cannot read: its offset and
    what reading it raises; None if the search could not finish within ``timeout`` seconds
    (the broker away).

    Only public client calls: the candidates are the assigned partitions whose position is
    below their high watermark (a partition never fetched cannot have failed); a throwaway
    consumer outside the group reads one record at each candidate's position. Records
    before a position have all been handled (the runner finishes a batch before it polls
    again), so the record at the position is the one to skip. Every candidate is read:
    kafka-python keeps the failed parse of each partition it could not read, and it must
    move past all of them, not only the first one found.
    """
    deadline = time.monotonic() + timeout
    candidates: dict[TopicPartition, int] = {}
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        position = consumer.position(tp, timeout_ms=0)
        if highwater is not None and position is not None and position < highwater:
            candidates[tp] = position
    found: dict[TopicPartition, tuple[int, BaseException]] = {}
    if not candidates:
        return found
    try:
        probe = new_consumer(kafka, client_id, group_id=None)
    except KafkaError as error:  # the broker away: the poll failure stays transient
        log.info("cannot look for an unreadable record: %s", error)
        return None
    try:
        for tp, offset in sorted(candidates.items()):
            probe.assign([tp])
            probe.seek(tp, offset)
            while True:
                if time.monotonic() > deadline:
                    return None
                try:
                    if probe.poll(timeout_ms=100, max_records=1):
                        break  # this partition reads
                except NOT_A_RECORD_FAILURE:
                    raise
                except BaseException as error:
                    if not may_be_unreadable(error):
                        return None
                    found[tp] = (offset, error)
                    # this probe's own failed parse would stall its next poll
                    probe.close(autocommit=False)
                    probe = new_consumer(kafka, client_id, group_id=None)
                    break
    except KafkaError as error:
        log.info("cannot look for an unreadable record: %s", error)
        return None
    finally:
        probe.close(autocommit=False)
    return found


def _text(error: BaseException | None) -> str:
    try:
        return str(error)
    except Exception:  # an exception whose __str__ fails still gets a reason
        return "(no message)"
