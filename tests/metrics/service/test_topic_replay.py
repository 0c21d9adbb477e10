"""A rebuild's replay of the topic: to the end of every partition, and never a silent stop
short of it when the broker goes away (a rebuild would report a partial read model as
whole)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.metrics.adapters.topic_replay import ReplayIncomplete, TopicReplay
from shared.config import KafkaSettings
from shared.contract import Topic
from shared.messaging.kafka_clients import ensure_topics, new_producer
from tests.conftest import free_port
from tests.metrics import goal_events as ge
from tests.metrics.goal_events import GoalsTopic
from tests.support.kafka import NotUtf8
from tools.embedded_broker import EmbeddedBroker

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def own_broker() -> Iterator[tuple[EmbeddedBroker, KafkaSettings]]:
    """A broker of this test alone (it is stopped midway)."""
    broker = EmbeddedBroker(free_port()).start()
    settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topic_partitions=3,
                             replication_factor=1, max_poll_interval_ms=2_000,
                             session_timeout_ms=6_000, request_timeout_ms=3_000)
    ensure_topics(settings, "replay-test-admin")
    yield broker, settings
    broker.stop()


def _fill(settings: KafkaSettings, events: int, items: int = 1) -> None:
    """``events`` goal events of each of ``items`` objectives (their own keys)."""
    topic = GoalsTopic(settings)
    try:
        for _ in range(items):
            objective, kr = ge.new_id(), ge.new_id()
            topic.send(ge.cycle(), ge.objective(objective, ["sales"]),
                       ge.key_result(kr, objective),
                       *[ge.check_in(kr, objective, v, float(v)) for v in range(2, events - 1)],
                       key=objective)
    finally:
        topic.close()


def test_the_replay_reads_every_record_to_the_end_of_the_topic(
        own_broker: tuple[EmbeddedBroker, KafkaSettings]) -> None:
    _, settings = own_broker
    _fill(settings, 50)
    replay = TopicReplay(settings, Topic.GOALS.value, "replay-test")
    assert sum(len(batch) for batch in replay.batches(7)) == 50


def test_a_broker_gone_midway_ends_the_replay_with_an_error_not_quietly(
        own_broker: tuple[EmbeddedBroker, KafkaSettings]) -> None:
    broker, settings = own_broker
    _fill(settings, 3_000, items=3)  # about 9 MB: the client fetches about 1 MB a partition
    batches = TopicReplay(settings, Topic.GOALS.value, "replay-test").batches(5)
    read = len(next(batches))
    broker.stop()
    with pytest.raises(ReplayIncomplete, match="short of the end"):
        for batch in batches:  # what the client had fetched already still comes
            read += len(batch)
    assert read < 9_000, read


def test_a_record_no_client_can_read_is_given_as_none_and_the_replay_goes_on(
        own_broker: tuple[EmbeddedBroker, KafkaSettings]) -> None:
    # An outside attack: one record with a bad CRC in the topic failed every rebuild (the
    # live consumers dead-letter such a record and move on), so after one failed rebuild
    # the consumer waited for ever on the partial read model it marks.
    _, settings = own_broker
    objectives = [ge.objective(ge.new_id(), ["sales"]).to_json() for _ in range(4)]
    producer = new_producer(settings, "replay-test-producer")
    try:
        for number, value in enumerate(objectives):  # each in a producer batch of its own
            producer.send(Topic.GOALS.value, partition=0, key=b"k", value=value).get(10)
            if number % 2:  # two unreadable records, each after a readable one
                producer.send(Topic.GOALS.value, partition=0, key=b"k", value=b'{"x":1}',
                              headers=[(NotUtf8("x"), b"v")]).get(10)
    finally:
        producer.close(timeout=5)

    read = [value for batch in TopicReplay(settings, Topic.GOALS.value, "replay-test")
            .batches(10) for value in batch]
    assert [value for value in read if value is not None] == objectives
    assert read.count(None) == 2
