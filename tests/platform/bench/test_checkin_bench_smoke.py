"""A tiny run of the check-in benchmarks (``python -m bench.checkins``): both servers come up
on gunicorn, every request is answered as expected, the numbers come out.

Only correctness is asserted, never timing.
"""

from __future__ import annotations

import math

import pytest

from bench.checkins import CheckInBenchOptions, run_checkin_benchmarks
from tests.support.databases import require_postgres

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
#: on SQLite without the relay (``--no-relay``), on PostgreSQL with it (the default)
RELAY = {"sqlite": False, "postgresql": True}


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


@pytest.mark.parametrize("database", DATABASES)
def test_checkin_benchmarks_run_end_to_end(database: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    if database == "postgresql":
        require_postgres()
    options = CheckInBenchOptions(database=database, workers=2, threads=4, clients=4,
                                  requests=40, rounds=2, warmup=8, rate=50.0, duration=0.5,
                                  batch_sizes=(10, 100), batch_items=200, key_results=25,
                                  time_limit=60.0, relay=RELAY[database])
    throughput, latency, batches = run_checkin_benchmarks(options)

    # _require_clean raised if any request got an unexpected answer; check what came out.
    assert len(throughput.details["ratios"]) == 2
    assert all(_positive(r) for r in throughput.details["goals_per_second"])
    assert all(_positive(r) for r in throughput.details["baseline_per_second"])
    assert _positive(throughput.details["median_ratio"])
    assert throughput.details["relay"] is RELAY[database]
    assert throughput.details["key_results"] == 25  # seeded with their events, all used
    assert len(throughput.details["load_averages"]) == 2
    cpu = throughput.details["cpu_ms_per_request"]  # from /proc, in 10 ms ticks
    assert all(math.isfinite(ms) and ms >= 0 for side in ("baseline", "goals")
               for ms in cpu[side])
    assert sum(cpu["goals"]) > 0  # 80 check-ins cost their server some ticks
    database_cpu = throughput.details["database_cpu_ms_per_request"]
    for side in ("baseline", "goals"):
        if database == "postgresql":  # its server runs on this machine in the suite
            assert all(math.isfinite(ms) and ms >= 0 for ms in database_cpu[side])
        else:  # SQLite's work is the servers' own
            assert all(math.isnan(ms) for ms in database_cpu[side])
    assert all(math.isfinite(ms) and ms >= 0
               for side in ("baseline", "goals")
               for ms in throughput.details["client_cpu_ms_per_request"][side])
    for side in ("baseline", "goals"):
        stats = latency.details["stats"][side]
        assert stats["count"] == 25
        assert 0 < stats["p50"] <= stats["p99"] <= stats["max"]
    for size in (10, 100):
        assert batches.details[f"goals_{size}"]["batches"] == 200 // size
        assert _positive(batches.details[f"ratio_{size}"])
    assert "check-in throughput" in capsys.readouterr().out
    # with the relay, leaving the fixture waited until it had published every check-in
