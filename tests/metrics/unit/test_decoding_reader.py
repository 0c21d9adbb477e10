"""A rebuild's reading process: what it sends is what decoding in the rebuild would give,
in the topic's order, with the records it cannot decode counted; its failure stops the
rebuild."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.metrics.service_layer.decoding_reader import ReaderFailed, decoded_batches
from services.metrics.service_layer.goal_events import DecodedEvent, decode
from shared.cloudevents import parse_event
from tests.metrics import goal_events as ge


class ListedReplay:
    """The records of a topic, from a list (pickled into the reading process)."""

    def __init__(self, records: list[bytes], fail_after: int | None = None) -> None:
        self.records = records
        self.fail_after = fail_after

    def batches(self, batch_size: int) -> Iterator[list[bytes]]:
        for start in range(0, len(self.records), batch_size):
            if self.fail_after is not None and start >= self.fail_after:
                raise ConnectionError("broker gone")
            yield self.records[start:start + batch_size]


def _seen(item: DecodedEvent) -> tuple[object, ...]:
    """All that applying uses of a decoded event (its data is not sent)."""
    event = item.event
    return (event.id, event.type, event.source, event.subject, event.time, item.change,
            item.is_check_in, item.creates)


def _records() -> list[bytes]:
    objective, kr, summed, other = ge.new_id(), ge.new_id(), ge.new_id(), ge.new_id()
    events = [ge.cycle(), ge.objective(objective, ["sales"]), ge.key_result(kr, objective),
              ge.key_result(summed, objective, aggregation="sum", target=300.0),
              ge.contribution(ge.new_id(), "key_result", kr, "key_result", summed),
              ge.link(ge.new_id(), objective, "sales", "objective", other, "marketing"),
              *[ge.check_in(kr, objective, v, 7.5 * v, confidence=0.25 * (v % 4))
                for v in range(2, 9)],
              ge.key_result_deleted(summed, objective, version=2),
              ge.objective(objective, ["sales"], version=2, title="renamed")]
    return [event.to_json() for event in events]


def test_the_reader_sends_each_batch_decoded_in_order_and_counts_what_it_skipped() -> None:
    records = _records()
    records[4:4] = [b"not json", b'{"specversion": "1.0"}']
    batches = list(decoded_batches(ListedReplay(records), batch_size=3))
    assert [skipped for _, skipped in batches] == [0, 2, 0, 0, 0, 0]
    sent = [_seen(item) for decoded, _ in batches for item in decoded]
    expected = [_seen(decode(parse_event(record))) for record in records
                if record not in (b"not json", b'{"specversion": "1.0"}')]
    assert sent == expected
    assert [len(decoded) + skipped for decoded, skipped in batches] == [3, 3, 3, 3, 3, 2]


def test_a_reader_that_fails_stops_the_rebuild_with_its_reason() -> None:
    batches = decoded_batches(ListedReplay(_records(), fail_after=6), batch_size=3)
    assert len(next(batches)[0]) == 3
    assert len(next(batches)[0]) == 3
    with pytest.raises(ReaderFailed, match="ConnectionError: broker gone"):
        next(batches)
