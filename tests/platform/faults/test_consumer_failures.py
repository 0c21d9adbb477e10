"""Whatever one record makes a consumer raise is classified in one place, and none stops it.

The runner here is the real one on a real Tansu broker and a real database, with a handler
that raises, by the event's subject, every kind of exception a handler could: permanent
ones are dead-lettered at once with a printable reason, a transient one is retried until
it passes, and the events around them are applied, in both handler modes.
"""

from __future__ import annotations

import string
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaTimeoutError
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from shared.cloudevents import CloudEvent, InvalidEvent, new_event, parse_event
from shared.config import KafkaSettings
from shared.contract import EventType, Topic
from shared.messaging.consumer import ConsumerRunner, TransientFailure, UnprocessableEvent
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.failures import is_transient
from shared.messaging.kafka_clients import ensure_topics, new_producer
from tests.platform.faults.conftest import wait_until
from tests.support.kafka import read_topic
from tests.support.ledger_consumer import ledger, plumbing, record_in_ledger

pytestmark = pytest.mark.timeout(90)

PRINTABLE = set(string.printable) - set("\t\n\r\x0b\x0c")


class NotAnException(BaseException):
    """What a library might raise: a BaseException that is not an Exception."""


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message for you")


RAISES: dict[str, Callable[[], BaseException]] = {
    "key-error": lambda: KeyError("measure"),
    "recursion": lambda: RecursionError("maximum recursion depth exceeded"),
    "overflow": lambda: OverflowError("int too large to convert to float"),
    "memory": MemoryError,
    "base-exception": lambda: NotAnException("from deep inside a library"),
    "surrogate-reason": lambda: UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates \ud800"),
    "unprintable": Unprintable,
    "unprocessable": lambda: UnprocessableEvent("x" * 10_000),
    "integrity": lambda: IntegrityError("INSERT", {}, Exception("duplicate key")),
}


class RaisingHandler:
    """Raises what :data:`RAISES` names for an event's subject; ``flaky`` fails once."""

    def __init__(self) -> None:
        self.flaky_attempts = 0

    def __call__(self, event: CloudEvent, connection: Connection) -> None:
        if event.subject in RAISES:
            raise RAISES[event.subject]()
        if event.subject == "flaky":
            self.flaky_attempts += 1
            if self.flaky_attempts == 1:
                raise TransientFailure("the dependency is away, for now")
        record_in_ledger(event, connection)

    def batch(self, events: list[CloudEvent], connection: Connection) -> None:
        for event in events:
            self(event, connection)


def _event(subject: str) -> CloudEvent:
    return new_event(EventType.CYCLE_CREATED, "/okr/goals", subject, {"key": subject})


@pytest.mark.parametrize("goals_database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("mode", ["one at a time", "batch", "gathered batches", "read ahead"])
@pytest.mark.handled_errors("dead_lettered", "consumer_transient", "consumer_batch_fallback")
def test_any_exception_of_a_handler_dead_letters_its_record_and_the_consumer_goes_on(
        mode: str, kafka_settings: KafkaSettings, ledger_engine: Engine) -> None:
    ensure_topics(kafka_settings, "failures-admin")
    handler = RaisingHandler()
    runner = ConsumerRunner(
        service="ledger", group_id=f"failures-{mode.replace(' ', '-')}",
        topics=[Topic.GOALS.value], engine=ledger_engine,
        processed_events=plumbing.processed_events, kafka=kafka_settings,
        **({"handler": handler} if mode == "one at a time" else {"batch_handler": handler.batch}),
        # several polls of two records each in one transaction
        **({"max_records": 2, "batch_records": 8} if mode in ("gathered batches", "read ahead")
           else {}),
        read_ahead=mode == "read ahead")
    events = [_event("before"), *[_event(subject) for subject in RAISES], _event("flaky"),
              _event("after")]
    producer = new_producer(kafka_settings, "failures-producer")
    try:
        for event in events:  # one key: one partition, in this order
            producer.send(Topic.GOALS.value, key=b"k", value=event.to_json())
        producer.flush(timeout=10)
    finally:
        producer.close(timeout=5)

    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: _ledger(ledger_engine) == ["before", "flaky", "after"]
                   or not thread.is_alive(), 45, "the events around the failing ones")
        assert thread.is_alive()
        dead = read_topic(kafka_settings, Topic.GOALS.dead_letter, expect=len(RAISES))
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    reasons = {parse_event(record.value).subject: dict(record.headers)["okr-dlq-reason"]
               .decode("ascii") for record in dead}
    assert set(reasons) == set(RAISES)  # each dead-lettered once, at its first failure
    assert all(set(reason) <= PRINTABLE and len(reason) <= 300 for reason in reasons.values())
    assert reasons["recursion"].startswith("handler failed: RecursionError: maximum recursion")
    assert reasons["base-exception"] == "handler failed: NotAnException: from deep inside a library"
    assert reasons["surrogate-reason"].startswith("handler failed: UnicodeEncodeError:")
    assert "\\ud800" in reasons["surrogate-reason"]
    assert reasons["unprintable"] == "handler failed: Unprintable: (no message)"
    assert reasons["unprocessable"].startswith("unprocessable: xxx")
    assert reasons["integrity"].startswith("database error: Exception: duplicate key")
    assert handler.flaky_attempts == 2  # retried after the transient failure, then applied


def _ledger(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(ledger.c.subject).order_by(ledger.c.id)).scalars())


@pytest.mark.handled_errors("dead_lettered")
def test_a_record_that_cannot_be_copied_is_dead_lettered_as_its_headers(
        kafka_settings: KafkaSettings) -> None:
    ensure_topics(kafka_settings, "failures-admin")
    # kafka-python refuses to write a record with neither key nor value (ValueError), and
    # one larger than the producer's limit (MessageSizeTooLargeError)
    records = [ConsumerRecord(Topic.GOALS.value, 1, -1, 41, 0, 0, None, None, [], None, -1, -1,
                              -1),
               ConsumerRecord(Topic.GOALS.value, 2, -1, 42, 0, 0, b"k", b"x" * 2_000_000, [],
                              None, -1, -1, -1)]
    dead_letters = DeadLetters(service="ledger", group_id="failures", kafka=kafka_settings,
                               client_id="failures")
    try:
        for record in records:
            assert dead_letters.send(record, "invalid event: \ud800 bad", threading.Event())
    finally:
        dead_letters.close()
    dead = read_topic(kafka_settings, Topic.GOALS.dead_letter, expect=2)
    headers = sorted((dict(record.headers) for record in dead),
                     key=lambda h: h["okr-dlq-source-offset"])
    assert [h["okr-dlq-source-offset"] for h in headers] == [b"41", b"42"]
    assert [(record.key, record.value) for record in dead] == [(None, b""), (None, b"")]
    first, second = (h["okr-dlq-reason"].decode("ascii") for h in headers)
    assert first.startswith("invalid event: \\ud800 bad; record not copied (no key, no value)")
    assert "ValueError" in first
    assert "(key of 1 bytes, value of 2000000 bytes): MessageSizeTooLargeError" in second


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200) | st.none()
       | st.builds(lambda n: b"[" * n + b"1" + b"]" * n, st.integers(0, 5_000)))
def test_decoding_anything_gives_an_event_or_invalid_event_with_a_short_printable_reason(
        raw: Any) -> None:
    try:
        parse_event(raw)
    except InvalidEvent as error:
        assert 0 < len(str(error)) <= 300
        assert set(str(error)) <= PRINTABLE


@pytest.mark.parametrize(("error", "transient"), [
    (TransientFailure("away"), True),
    (KafkaTimeoutError("no answer"), True),
    (OperationalError("SELECT 1", {}, Exception("server closed the connection")), True),
    (DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True), True),
    (DBAPIError("SELECT 1", {}, Exception("syntax"), connection_invalidated=False), False),
    (IntegrityError("INSERT", {}, Exception("duplicate key")), False),
    (UnprocessableEvent("bad"), False),
    (InvalidEvent("bad"), False),
    (KeyError("x"), False),
    (RecursionError(), False),
    (NotAnException(), False),
])
def test_only_a_dependency_away_is_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient
