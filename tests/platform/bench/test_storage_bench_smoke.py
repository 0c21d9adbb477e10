"""A tiny run of ``python -m bench storage`` on both databases: a year of check-ins through
the goals unit of work, published by the real relay, purged a year later. Sizes are not
asserted (they depend on the engine's pages, and on PostgreSQL on what other sessions still
see), only what the purges must leave and that every table is reported."""

from __future__ import annotations

import pytest

from bench.storage import StorageOptions, measure_storage
from tests.support.databases import require_postgres

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.postgres)])
def test_a_year_later_only_the_record_is_left_and_sizes_are_reported(kind: str) -> None:
    if kind == "postgresql":
        require_postgres()
    result = measure_storage(kind, StorageOptions(key_results=16, check_ins=3))
    details = result.details
    assert details["rows_before"]["check_ins"] == 48
    assert details["rows_before"]["idempotency_keys"] == 48
    # the record stays: check-ins, key results and the audit log (kept by default)
    assert details["rows_after"]["check_ins"] == 48
    assert details["rows_after"]["key_results"] == 16
    assert details["rows_after"]["audit_log"] == details["rows_before"]["audit_log"] > 48
    # what only needed keeping for a while is gone
    assert details["rows_after"]["outbox_events"] == 0
    assert details["rows_after"]["idempotency_keys"] == 0
    assert details["purged"]["outbox_events"] == details["rows_before"]["outbox_events"]
    assert details["baseline_bytes"] > 0
    assert set(details["after"]) == set(details["before"]) >= {"check_ins", "audit_log"}
    assert [row[0] for row in result.rows][-2:] == ["total",
                                                    "baseline: 48 bare check-in rows"]
