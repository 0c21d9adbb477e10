"""Rebuild: replay ``okr.goals.v1`` from its beginning into an empty read model.

The live consumer should be stopped meanwhile. The replay records every event id it
applies under the consumer group's name, so a consumer that resumes from the group's
committed offsets afterwards applies nothing twice; the same record tells it the events
the topic holds twice (a producer's retry, a relay's re-publishing), however far apart,
with no set of every id in memory. No roll-up events are published: the roll-ups were
already announced when they happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Protocol

from services.metrics.config import MetricsConfig
from services.metrics.service_layer.projection import RollupProjection
from services.metrics.service_layer.unit_of_work import UnitOfWork
from shared.clock import Clock, system_clock
from shared.cloudevents import CloudEvent, InvalidEvent, parse_event
from shared.messaging.consumer import UnprocessableEvent

Progress = Callable[[str], None]


class Replay(Protocol):
    def batches(self, batch_size: int) -> Iterator[list[bytes]]:
        """The topic's records, a batch at a time, from its beginning to its end."""


class Service(Protocol):
    """What a rebuild needs of the metrics service (the composition root's container)."""

    @property
    def config(self) -> MetricsConfig: ...

    def unit_of_work(self) -> UnitOfWork: ...

    def projection(self, publish: bool = True, clock: Clock = system_clock
                   ) -> RollupProjection: ...

    def goal_events_replay(self) -> Replay: ...


def rebuild(metrics: Service, progress: Progress, batch_size: int = 2000) -> dict[str, int]:
    """Empty the read model, replay the topic into it; return counts of what happened."""
    group = metrics.config.consumer_group
    with metrics.unit_of_work() as uow:
        uow.read_model.empty()
        uow.processed.forget(group)
        uow.commit()
    projection = metrics.projection(publish=False)
    counts = {"applied": 0, "duplicate": 0, "skipped": 0}
    started = time.monotonic()
    for records in metrics.goal_events_replay().batches(batch_size):
        events = _parsed(records, counts)
        if events:
            _apply(metrics, projection, events, group, counts)
            progress(f"replayed {sum(counts.values())} events "
                     f"({counts['applied']} applied) in {time.monotonic() - started:.1f}s")
    return counts


def _parsed(records: list[bytes], counts: dict[str, int]) -> list[CloudEvent]:
    """The batch's events, each id once (the first copy); what does not parse is skipped."""
    events: dict[str, CloudEvent] = {}
    for record in records:
        try:
            event = parse_event(record)
        except InvalidEvent:
            counts["skipped"] += 1
            continue
        if event.id in events:
            counts["duplicate"] += 1
            continue
        events[event.id] = event
    return list(events.values())


def _apply(metrics: Service, projection: RollupProjection, events: list[CloudEvent],
           group: str, counts: dict[str, int]) -> None:
    try:
        applied = _apply_recorded(metrics, projection, events, group)
        counts["applied"] += applied
        counts["duplicate"] += len(events) - applied
        return
    except UnprocessableEvent:
        projection.rolled_back()
    for event in events:  # one bad event in the batch: find it, skip it
        try:
            applied = _apply_recorded(metrics, projection, [event], group)
            counts["applied"] += applied
            counts["duplicate"] += 1 - applied
        except UnprocessableEvent:
            counts["skipped"] += 1


def _apply_recorded(metrics: Service, projection: RollupProjection, events: list[CloudEvent],
                    group: str) -> int:
    """Record ``events``' ids as the group's and apply those it had not recorded before
    (earlier in the topic), in one unit of work; return how many were applied."""
    with metrics.unit_of_work() as uow:
        new = uow.processed.record_new(group, [event.id for event in events],
                                       datetime.now(UTC))
        fresh = [event for event in events if event.id in new]
        if fresh:
            projection.apply_in(uow, fresh)
        uow.commit()
    return len(fresh)
