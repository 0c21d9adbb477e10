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
"""

from __future__ import annotations

from kafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared.cloudevents import InvalidEvent, printable


class UnprocessableEvent(Exception):
    """Raised by a handler for an event that can never be applied; it is dead-lettered."""


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


def _text(error: BaseException | None) -> str:
    try:
        return str(error)
    except Exception:  # an exception whose __str__ fails still gets a reason
        return "(no message)"
