"""A tiny run of the notification benchmarks (``bench/notifications.py``): every delivery
reaches the receiver, the index agrees with the scan, the numbers come out.

Only correctness is asserted, never timing.
"""

from __future__ import annotations

import math
import re

import pytest

from bench.common import render
from bench.notification_backlog import main as backlog_main
from bench.notification_consumer import ConsumerBenchOptions, run_consumer_ratio
from bench.notification_cpu import main as cpu_main
from bench.notifications import NotificationBenchOptions, run_matching, run_webhooks

TINY = NotificationBenchOptions(deliveries=30, rounds=2, concurrency=4, subscriptions=500,
                                notices=500, scanned_notices=50, handled_events=20)


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_webhook_benchmark_delivers_everything_and_reports_a_ratio() -> None:
    result = run_webhooks("sqlite", TINY)  # raises unless every delivery was delivered
    assert len(result.details["ratios"]) == 2
    assert all(_positive(r) for r in result.details["ratios"])
    assert "webhook deliveries" in render(result)


def test_matching_benchmark_reports_index_scan_and_handler_rates() -> None:
    result = run_matching("sqlite", TINY)
    for name in ("indexed_per_second", "scanned_per_second", "handled_per_second"):
        assert _positive(result.details[name]), name
    assert result.details["matches"] > 0


def test_consumer_benchmark_applies_every_event_through_the_worker_and_reports_a_ratio() -> None:
    options = ConsumerBenchOptions(events=60, rounds=2, subscriptions=300, objectives=20)
    result = run_consumer_ratio("sqlite", options)  # raises unless all 60 were applied
    assert len(result.details["ratios"]) == 2
    assert all(_positive(r) for r in result.details["ratios"])
    assert result.details["deliveries_per_event"] > 0
    assert "median ratio worker/plain" in render(result)


def test_backlog_benchmark_sends_beside_the_waiting_digests_and_reports_a_rate(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert backlog_main(["--database", "sqlite", "--events", "40", "--seconds", "3"]) == 0
    printed = capsys.readouterr().out
    sent, due = (int(n.replace(",", "")) for n in re.findall(
        r"([\d,]+) of ([\d,]+) due deliveries sent", printed)[0])
    assert 0 < sent <= due, printed
    assert "digests waiting for" in printed


def test_cpu_benchmark_applies_the_events_and_reports_each_figure(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cpu_main(["--database", "sqlite", "--events", "60", "--batch", "25"]) == 0
    printed = capsys.readouterr().out
    assert "60 events, 25 a transaction (sqlite)" in printed
    assert re.search(r"wall \d+ us, this thread's CPU \d+ us", printed), printed


def test_cpu_benchmark_with_broad_subscriptions_fans_every_event_out_to_them(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cpu_main(["--database", "sqlite", "--events", "60", "--broad", "20"]) == 0
    printed = capsys.readouterr().out
    assert "(sqlite, 20 matching every event)" in printed
    found = re.search(r"([\d.]+) deliveries and ([\d.]+) digest items an event", printed)
    assert found, printed
    assert float(found[1]) + float(found[2]) >= 20  # each event reached the 20, at least
