"""A rebuild's reading: the topic fetched, parsed and decoded in a process of its own.

Fetching (kafka-python), parsing and decoding are more than half of a rebuild's CPU and
need nothing of the graph, so a second process does them while the rebuild applies and
writes what came before: on two cores the two halves overlap. The reading process sends
each fetched batch as it has decoded it, in the topic's order, through a pipe; the pipe's
buffer holds about one batch, so the reader waits while the rebuild is behind (memory
stays bounded). What crosses is small: of an event its id, type, source, subject and time
(not its data), and its change, a key result's state as a plain tuple (most events: the
check-ins), others pickled as they are. If the rebuild dies the reader's next send fails
and it exits; if the reader dies the rebuild's next receive fails and the rebuild stops.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Generator, Iterator
from multiprocessing.connection import Connection
from typing import Any, Protocol

from services.metrics.domain.goal_items import Aggregation, KeyResultState, Measure
from services.metrics.service_layer.goal_events import DecodedEvent, decode
from shared.cloudevents import CloudEvent, InvalidEvent, parse_event
from shared.messaging.consumer import UnprocessableEvent

_END = b"end"
_MEASURES = {measure.value: measure for measure in Measure}
_AGGREGATIONS = {aggregation.value: aggregation for aggregation in Aggregation}
_new_decoded = tuple.__new__  # DecodedEvent(...) without its __new__'s Python frame


class Replay(Protocol):
    def batches(self, batch_size: int) -> Iterator[list[bytes | None]]:
        """The topic's records, a batch at a time, from its beginning to its end; ``None``
        for one the client could not read."""


class ReaderFailed(RuntimeError):
    """The reading process failed, or exited before the topic's end."""


def decoded_batches(replay: Replay, batch_size: int
                    ) -> Generator[tuple[list[DecodedEvent], int], None, None]:
    """Each fetched batch's events decoded, and how many of its records were skipped (not
    a CloudEvent, or breaking the contract: what the live consumer dead-letters)."""
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    reader = context.Process(target=_read, args=(replay, batch_size, sending), daemon=True,
                             name="okr-metrics-rebuild-reader")
    reader.start()
    sending.close()  # the reader's end: only the reader holds it now
    try:
        while True:
            try:
                message = receiving.recv_bytes()
            except EOFError:
                reader.join(timeout=5)
                raise ReaderFailed(f"the reading process exited ({reader.exitcode}) before "
                                   f"the topic's end") from None
            if message == _END:
                return
            skipped, rows = pickle.loads(message)
            if isinstance(rows, str):
                raise ReaderFailed(f"the reading process failed: {rows}")
            yield [_unpacked(row) for row in rows], skipped
    finally:
        receiving.close()
        reader.join(timeout=10)
        if reader.is_alive():
            reader.kill()
            reader.join()


def _read(replay: Replay, batch_size: int, sending: Connection) -> None:
    """The reading process."""
    try:
        for records in replay.batches(batch_size):
            rows, skipped = [], 0
            for record in records:
                if record is None:  # unreadable: what the live consumer dead-letters
                    skipped += 1
                    continue
                try:
                    rows.append(_packed(decode(parse_event(record))))
                except (InvalidEvent, UnprocessableEvent):
                    skipped += 1
            sending.send_bytes(pickle.dumps((skipped, rows), pickle.HIGHEST_PROTOCOL))
        sending.send_bytes(_END)
    except (BrokenPipeError, ConnectionResetError):
        return  # the rebuild is gone
    except Exception as error:  # told to the rebuild, which stops with it
        sending.send_bytes(pickle.dumps((0, f"{type(error).__name__}: {error}")))


def _packed(item: DecodedEvent) -> tuple[Any, ...]:
    event, change = item.event, item.change
    head = (event.id, event.type, event.source, event.subject, event.time, item.is_check_in,
            item.creates)
    if type(change) is KeyResultState and not change.history:  # events carry no history
        return (*head, change.id, change.version, change.objective_id, change.measure.value,
                change.start, change.target, change.weight, change.aggregation.value,
                change.current, change.confidence, change.last_checkin_at, change.title,
                change.unit)
    return (*head, change)


def _unpacked(row: tuple[Any, ...]) -> DecodedEvent:
    event = CloudEvent(row[1], row[2], row[3], {}, row[0], row[4])
    if len(row) == 8:
        change = row[7]
    else:
        change = KeyResultState(row[7], row[8], row[9], _MEASURES[row[10]], row[11], row[12],
                                row[13], _AGGREGATIONS[row[14]], row[15], row[16], row[17],
                                row[18], row[19])
    return _new_decoded(DecodedEvent, (event, change, row[5], row[6]))
