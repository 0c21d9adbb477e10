"""Tiny runs of the benchmarks: they work end to end and every event arrives.

Only correctness is asserted, never timing: the suite must not fail because the machine
was slow. The real numbers come from ``make bench``.
"""

from __future__ import annotations

import math

import pytest

from bench.latency import LatencyOptions, run_latency
from bench.throughput import ThroughputOptions, run_throughput
from tests.support.databases import require_postgres

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


@pytest.mark.parametrize("database", DATABASES)
def test_throughput_benchmark_delivers_every_event(database: str) -> None:
    if database == "postgresql":
        require_postgres()
    result = run_throughput(database, ThroughputOptions(events=200, rounds=2,
                                                        timeout_seconds=60))
    details = result.details
    assert details["records_on_topic"] == details["records_expected"] == 200 * 2 * 2
    rates = details["relay_events_per_second"] + details["plain_events_per_second"]
    assert len(rates) == 4
    assert all(_positive(rate) for rate in rates)
    assert _positive(details["median_ratio"])


@pytest.mark.parametrize("database", DATABASES)
def test_latency_benchmark_delivers_every_event(database: str) -> None:
    if database == "postgresql":
        require_postgres()
    result = run_latency(database, LatencyOptions(rate=200, duration=1.0, rounds=1))
    details = result.details
    assert details["missing"] == {"relay": 0, "plain": 0}
    for side in ("relay", "plain"):
        stats = details["pooled"][side]
        assert stats["count"] == 200
        assert all(_positive(stats[name]) for name in ("p50", "p95", "p99", "max"))
        assert stats["p50"] <= stats["p99"] <= stats["max"]
    assert _positive(details["p99_ratio"])
