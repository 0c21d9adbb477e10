"""Rebuild: replay ``okr.goals.v1`` from its beginning into an empty read model.

The live consumer should be stopped meanwhile. The replay records every event id it
applies under the consumer group's name, so a consumer that resumes from the group's
committed offsets afterwards applies nothing twice; the same record tells it the events
the topic holds twice (a producer's retry, a relay's re-publishing), however far apart,
with no set of every id in memory. No roll-up events are published: the roll-ups were
already announced when they happened.

The topic is applied a chunk at a time (up to :data:`CHUNK_EVENTS`), each chunk in one
unit of work, as the live consumer applies one batch: its ids recorded in one statement,
its events applied to the graph in one go, and only then the read-model rows it touched
written, each once, with the outlooks of the objectives it moved. A year touches each key
result about fifty times, so writing per chunk rather than per fetched batch writes a
fraction of the rows; the result is the same, as the projection's result does not depend
on how its events are batched. The topic is fetched, parsed and decoded meanwhile in a
process of its own (``decoding_reader.py``). A rebuild killed midway leaves a partial read
model behind (whole chunks), marked unfinished (the ``rebuilds`` table), so that
``okr-metrics consume`` waits rather than start on it; it is simply run again, and starts
by emptying it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime
from typing import Protocol

from services.metrics.config import MetricsConfig
from services.metrics.service_layer.decoding_reader import Replay, decoded_batches
from services.metrics.service_layer.goal_events import DecodedEvent
from services.metrics.service_layer.projection import RollupProjection
from services.metrics.service_layer.unit_of_work import UnitOfWork
from shared.clock import Clock, system_clock
from shared.messaging.consumer import UnprocessableEvent, UnprocessableEvents

Progress = Callable[[str], None]

CHUNK_EVENTS = 50_000
"""Events applied and written in one unit of work: what the rebuild holds in memory beside
the graph (about 1.2 KB an event, decoded), and at a year's rhythm of check-ins a tenth or
less of the rows it would write per fetched batch."""


class Service(Protocol):
    """What a rebuild needs of the metrics service (the composition root's container)."""

    @property
    def config(self) -> MetricsConfig: ...

    def unit_of_work(self) -> UnitOfWork: ...

    def projection(self, publish: bool = True, clock: Clock = system_clock
                   ) -> RollupProjection: ...

    def goal_events_replay(self) -> Replay: ...


def rebuild(metrics: Service, progress: Progress, batch_size: int = 2000,
            chunk_events: int = CHUNK_EVENTS) -> dict[str, int]:
    """Empty the read model, replay the topic into it; return counts of what happened.
    ``batch_size``: records a fetch; ``chunk_events``: events a unit of work (a chunk holds
    whole fetches, so a fetch is no larger than a chunk)."""
    batch_size = min(batch_size, chunk_events)
    group = metrics.config.consumer_group
    with metrics.unit_of_work() as uow:
        uow.read_model.empty()
        uow.processed.forget(group)
        uow.read_model.start_rebuild(datetime.now(UTC))
        uow.commit()
    projection = metrics.projection(publish=False)
    counts = {"applied": 0, "duplicate": 0, "skipped": 0}
    started = time.monotonic()
    # closed on the way out, whatever happens: the reading process stops with it
    with closing(decoded_batches(metrics.goal_events_replay(), batch_size)) as batches:
        for events in _chunks(batches, batch_size, chunk_events, counts):
            _apply(metrics, projection, events, group, counts, (batch_size, 1))
            progress(f"replayed {sum(counts.values())} events "
                     f"({counts['applied']} applied) in {time.monotonic() - started:.1f}s")
    with metrics.unit_of_work() as uow:
        uow.read_model.finish_rebuild(datetime.now(UTC))
        uow.commit()
    return counts


def unfinished_rebuild(metrics: Service) -> datetime | None:
    """When a rebuild that has not finished started: one running, or one stopped midway,
    whose partial read model a consumer must not start on."""
    with metrics.unit_of_work() as uow:
        return uow.read_model.unfinished_rebuild()


def _chunks(batches: Iterator[tuple[list[DecodedEvent], int]], first: int, chunk_events: int,
            counts: dict[str, int]) -> Iterator[list[DecodedEvent]]:
    """The topic's events decoded, a chunk at a time, each id once in a chunk (its first
    copy; the later ones are counted as duplicates).

    The first chunk is ``first`` events or so, each next one twice the last, up to
    ``chunk_events``. This was measured when the projection rolled up every state of a key
    result created in the same chunk (a large first chunk rolled 34,000 check-ins up one
    by one); ``RollupProjection._superseded`` now supersedes those too, so the doubling
    only keeps the first chunks, which hold most of the creations, small."""
    events: dict[str, DecodedEvent] = {}
    limit = min(first, chunk_events)
    for decoded, skipped in batches:
        counts["skipped"] += skipped
        for item in decoded:
            if item.event.id in events:
                counts["duplicate"] += 1
            else:
                events[item.event.id] = item
        if len(events) >= limit:
            yield list(events.values())
            events = {}
            limit = min(2 * limit, chunk_events)
    if events:
        yield list(events.values())


def _apply(metrics: Service, projection: RollupProjection, events: list[DecodedEvent],
           group: str, counts: dict[str, int], parts: Sequence[int]) -> None:
    """Apply ``events`` in one unit of work; the events the projection names unprocessable
    (a version the goals service could not have written) are skipped and the others
    applied again. Another unprocessable event: again in parts of ``parts[0]`` events each
    (then ``parts[1]``, ...), down to single events, each on its own: an unprocessable
    single event is skipped."""
    try:
        applied = _apply_recorded(metrics, projection, events, group)
        counts["applied"] += applied
        counts["duplicate"] += len(events) - applied
        return
    except UnprocessableEvents as error:
        projection.rolled_back()
        rest = [item for item in events if item.event.id not in error.reasons]
        if len(rest) < len(events):
            counts["skipped"] += len(events) - len(rest)
            if rest:
                _apply(metrics, projection, rest, group, counts, parts)
            return
    except UnprocessableEvent:
        projection.rolled_back()
    if len(events) == 1:
        counts["skipped"] += 1
        return
    parts = [size for size in parts if size < len(events)] or [1]
    for start in range(0, len(events), parts[0]):
        _apply(metrics, projection, events[start:start + parts[0]], group, counts, parts[1:])


def _apply_recorded(metrics: Service, projection: RollupProjection,
                    events: list[DecodedEvent], group: str) -> int:
    """Record ``events``' ids as the group's and apply those it had not recorded before
    (earlier in the topic), in one unit of work; return how many were applied."""
    with metrics.unit_of_work() as uow:
        new = uow.processed.record_new(group, [item.event.id for item in events],
                                       datetime.now(UTC))
        fresh = [item for item in events if item.event.id in new]
        if fresh:
            projection.apply_decoded(uow, fresh)
        uow.commit()
    return len(fresh)
