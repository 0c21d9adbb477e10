"""Rebuild: replay ``okr.goals.v1`` from its beginning into an empty read model.

The live consumer should be stopped meanwhile. The replay records every event id it
applies under the consumer group's name, so a consumer that resumes from the group's
committed offsets afterwards applies nothing twice. No roll-up events are published: the
roll-ups were already announced when they happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from kafka import TopicPartition

from services.metrics.config import MetricsConfig
from services.metrics.service_layer.projection import RollupProjection
from services.metrics.service_layer.unit_of_work import UnitOfWork
from shared.clock import Clock, system_clock
from shared.cloudevents import CloudEvent, InvalidEvent, parse_event
from shared.contract import Topic
from shared.messaging.consumer import UnprocessableEvent
from shared.messaging.kafka_clients import ensure_topics, new_consumer

Progress = Callable[[str], None]
QUIET_POLLS = 5  # empty polls in a row that end a replay whose end is not known yet


class Service(Protocol):
    """What a rebuild needs of the metrics service (the composition root's container)."""

    @property
    def config(self) -> MetricsConfig: ...

    def unit_of_work(self) -> UnitOfWork: ...

    def projection(self, publish: bool = True, clock: Clock = system_clock
                   ) -> RollupProjection: ...


def rebuild(metrics: Service, progress: Progress, batch_size: int = 2000) -> dict[str, int]:
    """Empty the read model, replay the topic into it; return counts of what happened."""
    group = metrics.config.consumer_group
    with metrics.unit_of_work() as uow:
        uow.read_model.empty()
        uow.processed.forget(group)
        uow.commit()
    projection = metrics.projection(publish=False)
    kafka = metrics.config.kafka
    ensure_topics(kafka, "okr-metrics-rebuild-admin", [Topic.GOALS.value])
    consumer = new_consumer(kafka, "okr-metrics-rebuild", group_id=None)
    counts = {"applied": 0, "duplicate": 0, "skipped": 0}
    seen: set[str] = set()
    started = time.monotonic()
    try:
        partitions = [TopicPartition(Topic.GOALS.value, p)
                      for p in sorted(consumer.partitions_for_topic(Topic.GOALS.value) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        quiet = 0
        while quiet < QUIET_POLLS:
            batch = consumer.poll(timeout_ms=500, max_records=batch_size)
            events = _new_events(batch, seen, counts)
            if events:
                _apply(metrics, projection, events, group, counts)
                progress(f"replayed {sum(counts.values())} events "
                         f"({counts['applied']} applied) in {time.monotonic() - started:.1f}s")
            if not batch:
                quiet = QUIET_POLLS if _at_end(consumer, partitions) else quiet + 1
            else:
                quiet = 0
    finally:
        consumer.close(autocommit=False)
    return counts


def _new_events(batch: dict[TopicPartition, list[Any]], seen: set[str],
                counts: dict[str, int]) -> list[CloudEvent]:
    events = []
    for messages in batch.values():
        for message in messages:
            try:
                event = parse_event(message.value)
            except InvalidEvent:
                counts["skipped"] += 1
                continue
            if event.id in seen:
                counts["duplicate"] += 1
                continue
            seen.add(event.id)
            events.append(event)
    return events


def _apply(metrics: Service, projection: RollupProjection, events: list[CloudEvent],
           group: str, counts: dict[str, int]) -> None:
    try:
        _apply_recorded(metrics, projection, events, group)
        counts["applied"] += len(events)
        return
    except UnprocessableEvent:
        projection.rolled_back()
    for event in events:  # one bad event in the batch: find it, skip it
        try:
            _apply_recorded(metrics, projection, [event], group)
            counts["applied"] += 1
        except UnprocessableEvent:
            counts["skipped"] += 1


def _apply_recorded(metrics: Service, projection: RollupProjection, events: list[CloudEvent],
                    group: str) -> None:
    """Apply ``events`` and record their ids as the group's, in one unit of work."""
    with metrics.unit_of_work() as uow:
        projection.apply_in(uow, events)
        uow.processed.record(group, [event.id for event in events], datetime.now(UTC))
        uow.commit()


def _at_end(consumer, partitions: list[TopicPartition]) -> bool:  # type: ignore[no-untyped-def]
    for tp in partitions:
        highwater = consumer.highwater(tp)
        if highwater is None or consumer.position(tp) < highwater:
            return False
    return True
