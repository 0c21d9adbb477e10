"""A tiny run of ``python -m bench.coldstart``: the consumer restarted on a read model with a
night's batch waiting catches up, this checkout's and another checkout's (here itself) in
turn. Only correctness is asserted, never timing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.coldstart import run_cold_starts
from tests.support.databases import require_postgres

pytestmark = [pytest.mark.timeout(240), pytest.mark.postgres]


def test_cold_starts_catch_up_with_the_nights_batch() -> None:
    require_postgres()
    tree = Path(__file__).resolve().parents[3]
    result = run_cold_starts(key_results=300, windows=3, batch=40, rounds=1,
                             baseline_tree=str(tree), keep_database=None, timeout=180.0)
    assert [row[0] for row in result.rows] == ["1: baseline", "1: this checkout"]
    for row in result.rows:
        assert row[1] == "40"  # every check-in was produced, and the lag came back to 0
        serving, reported, caught_up = (float(value) for value in row[2:5])
        assert 0 < serving <= reported <= caught_up
    assert all(math.isfinite(check.value) and check.value > 0 for check in result.checks)
