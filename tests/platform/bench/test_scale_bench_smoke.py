"""A tiny run of ``python -m bench scale``: a seeded company's year on a real broker, the
metrics consumer started twice and a rebuild, each its own process. Only correctness is
asserted, never timing."""

from __future__ import annotations

import json
import math

import pytest

from bench.company import Company, ScaleOptions
from bench.scale import run_rebuilds, run_scale
from shared.contract import EventType

pytestmark = pytest.mark.timeout(180)

TINY = ScaleOptions(key_results=40, departments=5, subscriptions=20, weeks=2, seed=7)


def test_a_tiny_year_is_consumed_restarted_and_rebuilt_in_full() -> None:
    result = run_scale(TINY, "sqlite", timeout=120)
    details = result.details
    assert details["key_results_held"] == 40  # the read model holds the whole company
    assert details["rebuild_applied"] == details["events"]  # every event replayed
    first, cold = details["first_start"], details["cold_start"]
    assert 0 < cold["serving"] <= cold["first_lag"] <= cold["caught_up"]
    assert first["peak_rss"] > 0 and cold["peak_rss"] > 0
    assert all(math.isfinite(check.value) and check.value > 0 for check in result.checks)


def test_the_rebuild_only_run_alternates_rebuilds_with_the_plain_consumer() -> None:
    result = run_rebuilds(TINY, "sqlite", rounds=2)
    details = result.details
    assert details["key_results_held"] == 40
    assert len(details["plain_seconds"]) == 3 and len(details["ratios"]) == 2
    assert all(applied == details["events"] for _, (_, _, applied, _, _) in details["rebuilds"])
    assert all(peak > 0 and cpu > 0 for _, (_, _, _, peak, cpu) in details["rebuilds"])
    assert all(math.isfinite(check.value) and check.value > 0 for check in result.checks)


def _events(options: ScaleOptions) -> list[bytes]:
    return [event.value for event in Company.plan(options).year_events()]


def test_the_same_arguments_give_the_same_company_byte_for_byte() -> None:
    assert _events(TINY) == _events(TINY)
    assert _events(TINY) != _events(ScaleOptions(key_results=40, departments=5, weeks=2,
                                                 seed=8))


def test_the_company_has_collective_sums_links_and_a_rhythm_of_check_ins() -> None:
    company = Company.plan(ScaleOptions(key_results=400, weeks=12, seed=3))
    events = [json.loads(event.value) for event in company.year_events()]
    types = [event["type"] for event in events]
    created = sum(t == EventType.KEY_RESULT_CREATED.value for t in types)
    assert created == 400
    sums = [e["data"]["id"] for e in events if e["type"] == EventType.KEY_RESULT_CREATED.value
            and e["data"]["aggregation"] == "sum"]
    summed_into = {e["data"]["parent_id"] for e in events
                   if e["type"] == EventType.CONTRIBUTION_ADDED.value
                   and e["data"]["parent_type"] == "key_result"}
    assert sums and set(sums) == summed_into  # every summing key result has what it sums
    links = [e["data"] for e in events if e["type"] == EventType.LINK_CREATED.value]
    assert {link["to_department"] for link in links} == {"finance", "production"}
    collective = [e["data"] for e in events if e["type"] == EventType.OBJECTIVE_CREATED.value
                  and e["data"]["kind"] == "collective"]
    assert any({"sales", "marketing"} < set(o["departments"]) for o in collective)
    check_ins = [e["data"]["check_in"] for e in events
                 if e["type"] == EventType.KEY_RESULT_CHECKED_IN.value]
    nightly = [c for c in check_ins if c["source"] == "system"]
    assert nightly and all(c["created_at"][11:13] == "02" for c in nightly)
    weekly = [c for c in check_ins if c["source"] == "person"]
    assert weekly and all(c["created_at"][11:13] != "02" for c in weekly)
    assert all(c["created_at"] < "2025-04" for c in check_ins)  # 12 weeks: Q1 only
    times = [e["time"] for e in events if e["type"] == EventType.KEY_RESULT_CHECKED_IN.value]
    assert times == sorted(times)  # in the order they happened
    assert abs(len(events) - company.expected_events()) < 0.05 * len(events)
