"""Marking acknowledged outbox rows as published, in the background.

The relay hands each acknowledged batch to :class:`PublishedMarks`, which writes the marks
on a thread of its own while the relay sends the next batch (one mark in flight at a
time). Rows whose mark is in flight are skipped when the next batch is read, so nothing is
sent twice by the same relay; a mark that fails leaves its rows pending, to be sent again
(consumers drop the copies by event id).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, Table

from shared.observability.metrics import OUTBOX_PUBLISHED
from shared.persistence.dialects import update_rows_by_key
from shared.persistence.engine import writing


@dataclass(frozen=True)
class PublishedMark:
    position: int
    partition: int
    offset: int
    topic: str


class PublishedMarks:
    def __init__(self, *, service: str, engine: Engine, outbox_table: Table) -> None:
        self.service = service
        self.engine = engine
        self.table = outbox_table
        self._marker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{service}-marks")
        self._marking: Future[None] | None = None
        self.in_flight: set[int] = set()
        """Outbox positions whose mark is being written."""

    def submit(self, marks: list[PublishedMark]) -> None:
        """Write ``marks`` in the background; call :meth:`wait` before the next submit."""
        if marks:
            self.in_flight = {mark.position for mark in marks}
            self._marking = self._marker.submit(self._mark_published, marks)

    def wait(self) -> None:
        """Wait until the submitted marks are written (raises if writing them failed)."""
        marking, self._marking = self._marking, None
        try:
            if marking is not None:
                marking.result()
        finally:
            self.in_flight = set()

    def shutdown(self) -> None:
        self._marker.shutdown()

    def _mark_published(self, marks: list[PublishedMark]) -> None:
        with writing(self.engine).begin() as connection:
            update_rows_by_key(connection, self.table, "position", [
                {"position": m.position, "kafka_partition": m.partition,
                 "kafka_offset": m.offset} for m in marks], {"published_at": datetime.now(UTC)})
        counts: dict[str, int] = {}
        for mark in marks:
            counts[mark.topic] = counts.get(mark.topic, 0) + 1
        for topic, count in counts.items():
            OUTBOX_PUBLISHED.labels(self.service, topic).inc(count)
