"""A tiny run of the metrics benchmarks (``python -m bench.metrics``): every one runs end to
end on real parts and yields its numbers. Only correctness is asserted, never timing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.metrics import MetricsBenchOptions, run_metrics_benchmarks, scrape_time

pytestmark = pytest.mark.timeout(120)


def test_metrics_benchmarks_run_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    options = MetricsBenchOptions(database="sqlite", events=300, throughput_rounds=2,
                                  throughput_key_results=200, rollup_sizes=(100, 1_000),
                                  check_ins=100, rss_key_results=1_000, series=(600,),
                                  scrape_repeats=1, latency_rate=10.0, latency_seconds=0.5,
                                  latency_key_results=30)
    results = run_metrics_benchmarks(options)
    assert [r.name for r in results] == [
        "metrics consumer throughput, read model of 200 key results",
        "one check-in's roll-up update", "metrics consumer memory", "/metrics rendering",
        "check-in -> /metrics latency"]
    for result in results:
        assert result.checks, result.name
        assert all(math.isfinite(check.value) and check.value > 0 for check in result.checks)
    scrape = dict(zip(results[3].headers, results[3].rows[0], strict=True))
    assert scrape["kept = from nothing"] == "yes"  # a scrape from kept lines, byte for byte
    memory = results[2].rows[0]
    assert memory[1] == "1,000"  # every key result of the read model was loaded
    throughput = results[0].details
    # two rounds, each against the plain consumer; the roll-up relay ran beside the consumer
    # and published every roll-up event the rounds wrote
    assert len(throughput["ratios"]) == 2 and throughput["relay"] is True
    assert throughput["unpublished_rollup_events"] == 0
    latency = results[4]
    assert [row[1] for row in latency.rows] == ["5", "5"]  # every check-in seen, both paths
    assert latency.details["key_results"] == 30  # the read model held all of them
    assert "throughput ratio" in capsys.readouterr().out


def test_scrape_benchmark_times_another_checkout_on_the_same_read_model() -> None:
    """``--baseline-tree``: this checkout as its own baseline renders the same series."""
    tree = Path(__file__).resolve().parents[3]
    result = scrape_time(MetricsBenchOptions(database="sqlite", series=(600,), scrape_repeats=1,
                                             baseline_tree=str(tree)))
    [row] = result.rows
    columns = dict(zip(result.headers, row, strict=True))
    assert columns["baseline tree series"] == columns["series"]
    assert float(columns["baseline tree s (median)"]) > 0
