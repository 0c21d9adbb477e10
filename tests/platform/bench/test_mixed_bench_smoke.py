"""A tiny run of ``python -m bench mixed``: every process of the platform up, check-ins,
batches and probes through the goals API, and every number the benchmark reports comes
out of what really flowed (broker, databases, webhooks). Only correctness is asserted,
never timing."""

from __future__ import annotations

import math

import pytest

from bench.mixed import MixedOptions, run_mixed
from tests.support.databases import require_postgres

pytestmark = [pytest.mark.timeout(240), pytest.mark.postgres]

TINY = MixedOptions(key_results=40, subscriptions=60, rate=10.0, batch_size=30,
                    batch_every=6.0, duration=12.0, probes=3, probe_every=1.0,
                    memory_every=1.0, drain=60.0, notification_workers=2,
                    standby_metrics=True, warmup_timeout=120.0,
                    max_poll_interval_ms=5_000)  # a group join waits this long on Tansu


def _finite(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def test_a_tiny_mixed_load_flows_through_every_process_and_is_measured() -> None:
    require_postgres()
    latency, requests, lag, memory = run_mixed(TINY)

    details = latency.details
    assert details["unseen"] == 0 and details["batch_unseen"] == 0  # all in /metrics
    assert details["unheard"] == 0 and details["probes"] == 12  # every probe's webhook came
    assert all(_finite(details[name]) for name in (
        "visible_p50", "visible_p99", "hop_p50", "hop_p99", "webhook_p50", "webhook_p99"))
    assert [row[1] for row in latency.rows] == ["120", "120", "60", "12"]

    assert requests.details["errors"] == []
    assert {r["group"] for r in lag.details["recoveries"]} == {"okr-metrics",
                                                              "okr-notifications"}
    assert len(lag.details["recoveries"]) == 4  # two batches, two groups
    assert set(lag.details["poll_timeouts"]) == {
        "goals relay", "metrics consume", "metrics consume (standby)",
        "notifications worker 1", "notifications worker 2"}  # every worker's log was read

    sampled = set(memory.details)
    assert {"goals API worker 1", "goals API worker 2", "goals relay", "metrics consume",
            "metrics consume (standby)", "notifications worker 1", "notifications worker 2",
            "metrics API worker 1", "webhook receiver"} <= sampled
    assert all(profile["peak"] > 0 for profile in memory.details.values())
