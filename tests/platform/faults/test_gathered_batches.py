"""A consumer that lags gathers several polls into one batch: one transaction and one offset
commit for all of them, each event applied once, in order, and nothing committed before
its transaction; the same when the next batch is polled and decoded while one is applied
(read ahead). The runner is the real one, on a real Tansu broker and a real database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from kafka import TopicPartition
from sqlalchemy import Connection, Engine, select

from shared.cloudevents import CloudEvent, new_event
from shared.config import KafkaSettings
from shared.contract import EventType, Topic
from shared.messaging.consumer import ConsumerRunner, UnprocessableEvent, UnprocessableEvents
from shared.messaging.kafka_clients import ensure_topics, new_consumer, new_producer
from tests.conftest import handled_error_counts
from tests.platform.faults.conftest import wait_until
from tests.support.kafka import read_topic
from tests.support.ledger_consumer import ledger, ledger_counts, plumbing, record_in_ledger

pytestmark = pytest.mark.timeout(90)

EVENTS = 120
PER_POLL = 10
GATHERED = 50


@pytest.mark.parametrize("goals_database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("read_ahead", [False, True], ids=["in turn", "read ahead"])
def test_a_lagging_consumer_applies_several_polls_in_one_transaction_each_event_once(
        read_ahead: bool, kafka_settings: KafkaSettings, ledger_engine: Engine) -> None:
    subjects = _produce(kafka_settings)
    sizes: list[int] = []
    handle = _recording(sizes)
    group = f"gathered-{read_ahead}"
    runner = ConsumerRunner(
        service="ledger", group_id=group, topics=[Topic.GOALS.value], engine=ledger_engine,
        processed_events=plumbing.processed_events, kafka=kafka_settings,
        batch_handler=handle, max_records=PER_POLL, batch_records=GATHERED,
        read_ahead=read_ahead)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: ledger_counts(ledger_engine)[0] >= EVENTS or not thread.is_alive(),
                   45, "every event in the ledger")
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=30)

    assert ledger_counts(ledger_engine) == (EVENTS, EVENTS)  # each once
    with ledger_engine.connect() as connection:
        applied = list(connection.execute(
            select(ledger.c.subject).order_by(ledger.c.id)).scalars())
    assert applied == subjects  # in the topic's order
    assert sum(sizes) == EVENTS and max(sizes) <= GATHERED
    assert max(sizes) > PER_POLL  # the records fetched at once went into one transaction
    assert _committed(kafka_settings, group) == EVENTS


POISON = b"\xff\xfe not json"


def _produce(kafka: KafkaSettings, poison_before: int | None = None,
             events: int = EVENTS) -> list[str]:
    """``events`` events on one key (one partition, in this order), and an unreadable
    record before the one numbered ``poison_before``; their subjects."""
    ensure_topics(kafka, "gathered-admin")
    subjects = [f"e{number:03d}" for number in range(events)]
    producer = new_producer(kafka, "gathered-producer")
    try:
        for number, subject in enumerate(subjects):
            if number == poison_before:
                producer.send(Topic.GOALS.value, key=b"k", value=POISON)
            producer.send(Topic.GOALS.value, key=b"k", value=new_event(
                EventType.CYCLE_CREATED, "/okr/goals", subject, {"key": subject}).to_json())
        producer.flush(timeout=10)
    finally:
        producer.close(timeout=5)
    return subjects


def _recording(sizes: list[int]) -> Callable[[list[CloudEvent], Connection], None]:
    """A batch handler writing each event to the ledger and each batch's size to ``sizes``."""
    def handle(events: list[CloudEvent], connection: Connection) -> None:
        sizes.append(len(events))
        for event in events:
            record_in_ledger(event, connection)
    return handle


def _committed(kafka: KafkaSettings, group: str) -> int:
    """The group's committed offsets, summed over the topic's partitions."""
    consumer = new_consumer(kafka, "gathered-reader", group)
    try:
        partitions = consumer.partitions_for_topic(Topic.GOALS.value) or set()
        return sum(consumer.committed(TopicPartition(Topic.GOALS.value, p)) or 0
                   for p in partitions)
    finally:
        consumer.close(autocommit=False)


@pytest.mark.handled_errors("dead_lettered", "consumer_batch_fallback")
@pytest.mark.parametrize("goals_database_url", ["sqlite"], indirect=True)
def test_one_poison_record_in_a_gathered_batch_is_found_in_halves_and_dead_lettered_once(
        kafka_settings: KafkaSettings, ledger_engine: Engine) -> None:
    # An outside attack put one unreadable record among thousands: the batch went one
    # record a transaction, outlasted the poll interval, left the group and was done again
    # (the record dead-lettered up to nine times). Halves find it in a few transactions.
    subjects = _produce(kafka_settings, poison_before=EVENTS // 3)
    transactions: list[int] = []
    handle = _recording(transactions)
    group = "gathered-poison"
    runner = ConsumerRunner(
        service="ledger", group_id=group, topics=[Topic.GOALS.value], engine=ledger_engine,
        processed_events=plumbing.processed_events, kafka=kafka_settings,
        batch_handler=handle, max_records=EVENTS + 1, batch_records=EVENTS + 1)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: ledger_counts(ledger_engine)[0] >= EVENTS or not thread.is_alive(),
                   45, "every readable event in the ledger")
        wait_until(lambda: _committed(kafka_settings, group) == EVENTS + 1, 30,
                   "the offsets past every record")
    finally:
        stop.set()
        thread.join(timeout=30)

    assert ledger_counts(ledger_engine) == (EVENTS, EVENTS)
    with ledger_engine.connect() as connection:
        applied = list(connection.execute(
            select(ledger.c.subject).order_by(ledger.c.id)).scalars())
    assert applied == subjects
    [dead] = read_topic(kafka_settings, Topic.GOALS.dead_letter, expect=1, timeout=20)
    assert dead.value == POISON
    # the handler ran for the halves that held only readable records, not once a record
    # (before: 120 transactions of one event each)
    assert sum(1 for size in transactions if size == 1) <= 2, transactions
    assert len(transactions) <= 30, transactions


DENSE = 300


def _produce_dense(kafka: KafkaSettings) -> tuple[list[str], list[bytes]]:
    """``DENSE`` events on one key, two in three of them bad (subject ``bad...``): the
    subjects of the good ones and the values of the bad ones, in the topic's order."""
    ensure_topics(kafka, "dense-admin")
    good, bad = [], []
    producer = new_producer(kafka, "dense-producer")
    try:
        for number in range(DENSE):
            subject = f"{'ok' if number % 3 == 0 else 'bad'}{number:03d}"
            value = new_event(EventType.CYCLE_CREATED, "/okr/goals", subject,
                              {"key": subject}).to_json()
            producer.send(Topic.GOALS.value, key=b"k", value=value)
            (good.append(subject) if subject.startswith("ok") else bad.append(value))
        producer.flush(timeout=10)
    finally:
        producer.close(timeout=5)
    return good, bad


def _run_dense(kafka: KafkaSettings, engine: Engine, group: str, read_ahead: bool,
               handle: Callable[[list[CloudEvent], Connection], None],
               ) -> tuple[list[str], list[bytes]]:
    """Run the ledger consumer over :func:`_produce_dense`'s events until every record is
    committed: the good subjects and bad values produced."""
    good, bad = _produce_dense(kafka)
    _consume_until_committed(kafka, engine, group, handle, DENSE, read_ahead)
    return good, bad


def _consume_until_committed(kafka: KafkaSettings, engine: Engine, group: str,
                             handle: Callable[[list[CloudEvent], Connection], None],
                             records: int, read_ahead: bool = False,
                             per_poll: int | None = None, until: int | None = None) -> None:
    """Run the ledger consumer, batches of up to ``records`` (polls of ``per_poll``, by
    default as many), until the group has committed past ``until`` records (by default
    ``records``)."""
    runner = ConsumerRunner(
        service="ledger", group_id=group, topics=[Topic.GOALS.value], engine=engine,
        processed_events=plumbing.processed_events, kafka=kafka, batch_handler=handle,
        max_records=per_poll or records, batch_records=records, read_ahead=read_ahead)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: _committed(kafka, group) == (until or records)
                   or not thread.is_alive(), 60,
                   "the offsets past every record", interval=0.5)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=30)


def _ledger_subjects(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(ledger.c.subject).order_by(ledger.c.id)).scalars())


def _cut_batches() -> float:
    return handled_error_counts().get(("ledger", "consumer_batch_cut"), 0.0)


@pytest.mark.handled_errors("dead_lettered", "consumer_batch_fallback", "consumer_batch_cut")
@pytest.mark.parametrize("goals_database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("read_ahead", [False, True], ids=["in turn", "read ahead"])
def test_a_batch_made_mostly_of_bad_records_is_worked_through_without_leaving_the_group(
        read_ahead: bool, kafka_settings: KafkaSettings, ledger_engine: Engine) -> None:
    # An outside attack put 3,000 forged records among real ones. Isolating them by halves,
    # one dead letter at a time, outlasted max_poll_interval_ms: the consumer left its
    # group, its commit failed, the batch came back, and its bad records were
    # dead-lettered again, in a loop (12,300 dead letters of 3,017 records). The runner
    # now cuts a batch short when half the interval is used, commits what it finished
    # and polls again: each bad record is dead-lettered once.
    cut_before = _cut_batches()

    def handle(events: list[CloudEvent], connection: Connection) -> None:
        time.sleep(0.01)  # a transaction's round trips on a large read model
        for event in events:
            if event.subject.startswith("bad"):
                raise UnprocessableEvent(f"{event.subject} is bad")
            record_in_ledger(event, connection)

    good, bad = _run_dense(kafka_settings, ledger_engine, f"dense-{read_ahead}", read_ahead,
                           handle)

    assert _ledger_subjects(ledger_engine) == good  # each once, in order
    dead = read_topic(kafka_settings, Topic.GOALS.dead_letter, expect=len(bad), timeout=30)
    assert [record.value for record in dead] == bad  # each once, in order
    assert _cut_batches() > cut_before  # the interval was reached, and the batch cut


@pytest.mark.handled_errors("dead_lettered", "consumer_batch_fallback")
@pytest.mark.parametrize("goals_database_url", ["sqlite"], indirect=True)
def test_a_handler_that_names_the_bad_events_has_them_dead_lettered_and_the_rest_applied_at_once(
        kafka_settings: KafkaSettings, ledger_engine: Engine) -> None:
    calls: list[int] = []

    def handle(events: list[CloudEvent], connection: Connection) -> None:
        calls.append(len(events))
        bad = {event.id: f"{event.subject} is bad" for event in events
               if event.subject.startswith("bad")}
        if bad:
            raise UnprocessableEvents(bad)  # before anything is written
        for event in events:
            record_in_ledger(event, connection)

    good, bad = _run_dense(kafka_settings, ledger_engine, "dense-named", False, handle)

    assert _ledger_subjects(ledger_engine) == good
    dead = read_topic(kafka_settings, Topic.GOALS.dead_letter, expect=len(bad), timeout=30)
    assert [record.value for record in dead] == bad
    reasons = {dict(record.headers)["okr-dlq-reason"].decode() for record in dead}
    assert reasons == {f"unprocessable: {subject} is bad" for subject in
                       (f"bad{number:03d}" for number in range(DENSE) if number % 3)}
    # the whole batch, then its good events (polls may split it, never one a record)
    assert len(calls) <= 6 and sum(calls) < 2 * DENSE, calls


@pytest.mark.handled_errors("dead_lettered", "consumer_batch_fallback", "consumer_batch_cut")
@pytest.mark.parametrize("goals_database_url", ["sqlite"], indirect=True)
def test_bad_events_named_after_the_time_between_polls_ran_out_are_dead_lettered_once(
        kafka_settings: KafkaSettings, ledger_engine: Engine) -> None:
    # An outside attack: a part of a batch (after others were finished) whose handler named
    # its bad events once the time between polls had run out had them dead-lettered, and
    # then the rest of the part cut short, so they were polled and dead-lettered again.
    # Now the rest is applied first, and only the named events before the first record
    # left unfinished are dead-lettered.
    ensure_topics(kafka_settings, "named-late-admin")
    subjects = [f"ok{n:02d}" for n in range(10)] + ["boom10"] + [
        f"ok{n:02d}" for n in range(11, 16)] + ["bad16", "bad17", "bad18", "ok19", "bad20",
                                               "bad21"] + [f"ok{n:02d}" for n in range(22, 30)]
    values = [new_event(EventType.CYCLE_CREATED, "/okr/goals", subject,
                        {"key": subject}).to_json() for subject in subjects]
    producer = new_producer(kafka_settings, "named-late-producer")
    try:
        for value in values:
            producer.send(Topic.GOALS.value, key=b"k", value=value)
        producer.flush(timeout=10)
    finally:
        producer.close(timeout=5)

    def handle(events: list[CloudEvent], connection: Connection) -> None:
        if len(events) > 1 and any(event.subject.startswith("boom") for event in events):
            raise RuntimeError("boom: found by halves")  # alone, it applies
        bad = {event.id: f"{event.subject} is bad" for event in events
               if event.subject.startswith("bad")}
        if bad:
            time.sleep(1.2)  # past half the poll interval (2 s here), then named
            raise UnprocessableEvents(bad)
        for event in events:
            record_in_ledger(event, connection)

    _consume_until_committed(kafka_settings, ledger_engine, "named-late", handle, len(values))

    assert _ledger_subjects(ledger_engine) == [s for s in subjects if not s.startswith("bad")]
    dead = read_topic(kafka_settings, Topic.GOALS.dead_letter, expect=5, timeout=30)
    assert [record.value for record in dead] == [
        value for subject, value in zip(subjects, values, strict=True)
        if subject.startswith("bad")]  # each once


SLOW_EVENTS = 900
SLOW_PER_EVENT = 0.005  # a handler at 5 ms an event: 300 of them are most of the 2 s interval
SLOW_PER_POLL = 50
SLOW_GATHERED = 300


@pytest.mark.parametrize("goals_database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("read_ahead", [False, True], ids=["in turn", "read ahead"])
def test_a_slow_handler_gets_batches_its_pace_works_through_within_the_poll_interval(
        read_ahead: bool, kafka_settings: KafkaSettings, ledger_engine: Engine) -> None:
    # An outside attack: a notification worker lagging by thousands of events gathered
    # 2,000 into one transaction (5.8-8.5 s) against a 3 s poll interval, left its group,
    # failed its commits, and did it again once its halved batches had doubled back.
    # (Batch sizes are its pace's, not a time limit: the test's machine may be slow.)
    subjects = _produce(kafka_settings, events=SLOW_EVENTS)
    sizes: list[int] = []
    recorded = _recording(sizes)

    def slow(events: list[CloudEvent], connection: Connection) -> None:
        time.sleep(SLOW_PER_EVENT * len(events))
        recorded(events, connection)

    _consume_until_committed(kafka_settings, ledger_engine, f"slow-{read_ahead}", slow,
                             SLOW_GATHERED, read_ahead, per_poll=SLOW_PER_POLL,
                             until=SLOW_EVENTS)

    assert _ledger_subjects(ledger_engine) == subjects  # each once, in order
    # The first batch, gathered before any pace was known, may outlast the interval. After
    # it: a quarter of the interval (0.5 s) at 5 ms an event is 100 events, and a batch
    # doubled from that lasts half the interval. Halving after a slow batch gave 300, 150,
    # 300, ...: each 300 (1.5 s, with the commit and the poll) close to the interval.
    assert max(sizes[1:]) <= 200, sizes
