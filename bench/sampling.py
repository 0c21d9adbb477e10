"""What a sustained benchmark watches beside its load: the broker's topics from a plain
consumer (when each check-in arrived, the high watermarks), the lag of consumer groups
from the broker's offsets, and the resident memory and CPU of named processes.

Each runs on a thread of its own until its ``stop`` event is set. Times are
``time.monotonic()``, one clock for every process on Linux.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kafka import TopicPartition

from bench.common import log, own_cpu_seconds, tail_consumer
from shared.config import KafkaSettings
from shared.contract import EventType, Topic
from shared.messaging.kafka_clients import new_admin

MIB = 1024 * 1024


# -- the topics, as a plain consumer sees them -----------------------------------------------

class Tail:
    """A group-less consumer at the end of ``topics``: when each check-in on okr.goals.v1
    first arrived (by its value, which the benchmarks keep unique), and each partition's
    high watermark from its fetches (the embedded broker's ListOffsets is off by a batch:
    ``shared/messaging/broker_quirks.py``, point 1)."""

    def __init__(self, kafka: KafkaSettings, topics: Sequence[str] = (Topic.GOALS.value,),
                 client_id: str = "bench-tail") -> None:
        self.arrived: dict[int, float] = {}
        self.highwater: dict[TopicPartition, int] = {}
        self._consumer = tail_consumer(kafka, client_id, topics[0],
                                       fetch_max_wait_ms=kafka.fetch_max_wait_ms)
        partitions = list(self._consumer.assignment())
        for topic in topics[1:]:
            partitions += [TopicPartition(topic, p)
                           for p in sorted(self._consumer.partitions_for_topic(topic) or ())]
        self._consumer.assign(partitions)
        self._consumer.seek_to_end(*partitions)
        for tp in partitions:
            self._consumer.position(tp)
        self.partitions = partitions

    def run(self, stop: threading.Event) -> None:
        checked_in = EventType.KEY_RESULT_CHECKED_IN.value
        try:
            while not stop.is_set():
                for tp, messages in self._consumer.poll(timeout_ms=100).items():
                    at = time.monotonic()
                    if tp.topic != Topic.GOALS.value:
                        continue
                    for message in messages:
                        event = json.loads(message.value)
                        if event["type"] == checked_in:
                            self.arrived.setdefault(round(event["data"]["check_in"]["value"]),
                                                    at)
                known = {tp: self._consumer.highwater(tp) for tp in self.partitions}
                self.highwater = {tp: mark for tp, mark in known.items() if mark is not None}
        finally:
            self._consumer.close()

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="bench-tail", daemon=True)
        thread.start()
        return thread


# -- consumer lag from the broker's offsets ----------------------------------------------------

@dataclass
class GroupLag:
    """Every ``every`` seconds, each group's lag: the high watermarks the :class:`Tail` saw
    minus the offsets the group committed, summed over the partitions of its topics (a
    partition it never committed on counts whole)."""

    kafka: KafkaSettings
    tail: Tail
    groups: dict[str, tuple[str, ...]]  # group id -> the topics it consumes
    every: float = 1.0
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    failures: int = 0

    def run(self, stop: threading.Event) -> None:
        admin = new_admin(self.kafka, "bench-lag")
        try:
            while not stop.wait(self.every):
                highwater = self.tail.highwater
                for group, topics in self.groups.items():
                    try:
                        committed = admin.list_group_offsets(group)[group]
                    except Exception as error:  # a sample lost, counted, logged
                        self.failures += 1
                        if self.failures <= 3:
                            log(f"lag of {group} not read: {error!r}")
                        continue
                    lag = 0
                    for tp, mark in highwater.items():
                        if tp.topic in topics:
                            offset = committed.get(tp)
                            lag += max(0, mark - (offset.offset if offset is not None
                                                  and offset.offset >= 0 else 0))
                    self.samples.setdefault(group, []).append((time.monotonic(), lag))
        finally:
            admin.close()

    def latest(self, group: str) -> int | None:
        samples = self.samples.get(group)
        return samples[-1][1] if samples else None


# -- resident memory ---------------------------------------------------------------------------

def resident_bytes(pid: int) -> int | None:
    """``VmRSS`` of process ``pid`` in bytes; None once it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def broker_pid() -> int | None:
    """The Tansu broker this process started (``running_broker``)."""
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines()
                          if ":" in line)
            if (fields.get("Name", "").strip().startswith("tansu")
                    and int(fields.get("PPid", "0")) == os.getpid()):
                return int(status.parent.name)
    return None


def slope_per_minute(points: Sequence[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, bytes) in MiB per minute; 0 under two points."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    slope = sum((t - mean_t) * (v - mean_v) for t, v in points) / spread
    return slope * 60 / MIB


@dataclass
class MemoryProfile:
    start: float  # MiB
    end: float
    peak: float
    slope: float  # MiB a minute over the whole run
    late_slope: float  # MiB a minute over its second half
    cpu: float  # its CPU over the run, in cores (1.0: one core all the time)


@dataclass
class Memory:
    """Every ``every`` seconds, the RSS and the CPU seconds so far of each named process."""

    processes: dict[str, int]  # name -> pid
    every: float = 5.0
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    cpu: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def sample(self) -> None:
        for name, pid in self.processes.items():
            at, rss, cpu = time.monotonic(), resident_bytes(pid), own_cpu_seconds(pid)
            if rss is not None and cpu is not None:
                self.samples.setdefault(name, []).append((at, rss))
                self.cpu.setdefault(name, []).append((at, cpu))

    def run(self, stop: threading.Event) -> None:
        self.sample()
        while not stop.wait(self.every):
            self.sample()
        self.sample()

    def profile(self, name: str) -> MemoryProfile | None:
        points, cpu = self.samples.get(name, []), self.cpu.get(name, [])
        if not points:
            return None
        middle = points[0][0] + (points[-1][0] - points[0][0]) / 2
        elapsed = cpu[-1][0] - cpu[0][0]
        return MemoryProfile(start=points[0][1] / MIB, end=points[-1][1] / MIB,
                             peak=max(v for _, v in points) / MIB,
                             slope=slope_per_minute(points),
                             late_slope=slope_per_minute([p for p in points if p[0] >= middle]),
                             cpu=(cpu[-1][1] - cpu[0][1]) / elapsed if elapsed > 0 else 0.0)
