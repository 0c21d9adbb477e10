"""A tiny run of the explain benchmarks (``python -m bench explain``): both run end to end
on real parts (SQLite) and yield their numbers. Only correctness is asserted, never timing."""

from __future__ import annotations

import math

import pytest

from bench.explain import consumer_throughput, explain_latency

pytestmark = pytest.mark.timeout(300)


def test_explain_benchmarks_run_end_to_end() -> None:
    latency = explain_latency("sqlite", 2_000, 2)
    assert [row[0] for row in latency.rows] == ["explain (GET .../explain)",
                                                "baseline: roll-up tree, depth 5"]
    assert len(latency.details["explain_ms"]) == len(latency.details["tree_ms"]) == 2
    throughput = consumer_throughput("sqlite", 200, 1, 100)
    [ratio] = throughput.checks
    assert math.isfinite(ratio.value) and ratio.value > 0
    rates = throughput.details["rates"]
    assert len(rates["with"]) == len(rates["without"]) == 1
