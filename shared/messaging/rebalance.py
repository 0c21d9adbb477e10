"""On every assignment a consumer starts from the group's committed offset.

kafka-python keeps a partition's in-memory position across a rebalance when the partition
stays assigned. After the broker lost its topics (see :mod:`shared.messaging.broker_quirks`,
item 2) that position may point into a recreated log and skip its first records; the
committed offset (or the beginning, when there is none) is the truth.

kafka-python 3 runs rebalance listeners on its IO loop, where the blocking
``consumer.committed()`` raises ``RuntimeError``, and it offers no public asynchronous way
to read committed offsets. So the listener only notes the assigned partitions, and the
runner's thread moves them (:meth:`ResumeFromCommitted.seek_pending`) right after the poll
that joined, dropping what that poll returned for them: those records are fetched again
from the committed offset. No private member of the client is touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

Batch = dict[TopicPartition, list[ConsumerRecord]]


class ResumeFromCommitted(ConsumerRebalanceListener):
    def __init__(self, on_revoked: Callable[[TopicPartition], None]) -> None:
        self._on_revoked = on_revoked
        self._pending: set[TopicPartition] = set()
        self._lock = threading.Lock()  # the IO loop adds, the runner's thread takes

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            self._on_revoked(tp)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        with self._lock:
            self._pending.update(assigned)

    def seek_pending(self, consumer: KafkaConsumer, batch: Batch,
                     timeout_ms: int) -> tuple[Batch, Exception | None]:
        """Move newly assigned partitions to their committed offsets.

        Returns ``batch`` without the records of those partitions (fetched again from the
        committed offset), and the error that stopped a move (the broker away), if any:
        partitions not moved stay pending, so their records keep being dropped until a
        later call moves them; nothing past their committed offset is ever handled.
        """
        with self._lock:
            pending, self._pending = self._pending, set()
        if not pending:
            return batch, None
        dropped = set(pending)
        assigned = consumer.assignment()
        error: Exception | None = None
        try:
            for tp in sorted(pending):
                if tp in assigned:
                    committed = consumer.committed(tp, timeout_ms=timeout_ms)
                    if committed is None or committed < 0:
                        consumer.seek_to_beginning(tp)
                    else:
                        consumer.seek(tp, committed)
                pending.discard(tp)
        except Exception as failure:  # the broker away: try again after the next poll
            error = failure
        with self._lock:
            self._pending |= pending
        return {tp: records for tp, records in batch.items() if tp not in dropped}, error
