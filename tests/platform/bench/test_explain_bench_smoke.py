"""A tiny run of the explain benchmarks (``python -m bench explain``): both run end to end
on real parts and yield their numbers. Only correctness is asserted, never timing."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bench.explain import consumer_throughput, explain_latency
from bench.explain_read_model import build, featured_in
from bench.metrics import metrics_database
from services.metrics.adapters import tables
from services.metrics.adapters.explain_queries import ExplainQueries
from shared.persistence.engine import create_database_engine
from tests.support.databases import require_postgres

pytestmark = pytest.mark.timeout(300)
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("database", DATABASES)
def test_the_read_model_holds_the_key_results_asked_for_and_a_target_worth_explaining(
        database: str) -> None:
    if database == "postgresql":
        require_postgres()
    with metrics_database(database) as url:
        engine = create_database_engine(url)
        try:
            assert featured_in(engine) is None  # nothing built yet
            featured = build(engine, 3_000, datetime.now(UTC))
            again = featured_in(engine)  # what --reuse finds in a kept database
            with engine.connect() as connection:
                counted = {table.name: connection.execute(
                    select(func.count()).select_from(table)).scalar_one()
                    for table in (tables.key_results, tables.objectives,
                                  tables.contributions, tables.links)}
                windows = connection.execute(select(tables.key_results.c.check_ins).where(
                    tables.key_results.c.check_ins.is_not(None)).limit(1)).scalar_one()
                without_outlook = connection.execute(select(func.count()).where(
                    tables.objectives.c.outlook.is_(None))).scalar_one()
            queries = ExplainQueries(engine, 14 * 86_400.0)
            found = queries.explain(featured.target)
            assert again is not None
            kept = {name: queries.explain(objective_id) for name, objective_id in (
                ("department", again.department), ("team", again.team),
                ("filler", again.filler_target))}
        finally:
            engine.dispose()
    assert counted == {"key_results": 3_000, **{name: featured.counts[name] for name in (
        "objectives", "contributions", "links")}}
    assert featured.counts["key_results"] == 3_000
    assert (again.target, again.counts) == (featured.target, featured.counts)
    department, team, filler = (kept[name] for name in ("department", "team", "filler"))
    assert department is not None and team is not None and filler is not None
    assert len(department[1].inputs) == 5 + 9  # its key results and its team objectives
    assert [i.type for i in team[1].inputs] == ["key_result"] * 10
    assert filler[0].kind == "collective" and filler[0].id != featured.target
    assert len(json.loads(windows)[0]) == 3  # (time, value, version)
    assert found is not None
    explanation = found[1]
    assert explanation.forecast.attainment is not None
    assert explanation.forecast.estimators == (("least_squares", 950),)
    assert {link.other_department for link in explanation.dependencies_at_risk} == {
        "production", "finance"}
    assert {share.department for share in explanation.departments} == {"marketing", "sales"}
    # every objective's outlook kept, as the consumer keeps it: explain reads it
    assert without_outlook == 0
    assert explanation.why is not None and "Depends on production" in explanation.why


def test_explain_benchmarks_run_end_to_end() -> None:
    latency = explain_latency("sqlite", 2_000, 2)
    assert [row[0] for row in latency.rows] == [
        "explain: the collective target (1,051 descendants)",
        "explain: one of its department objectives (104)", "explain: a team objective (10)",
        "explain: a filler collective target (~100)", "baseline: GET /v1/rollups/{target}",
        "the explain query of the target in this process (no HTTP)"]
    assert all(len(values) == 2 for values in latency.details["timings_ms"].values())
    assert latency.details["counts"]["key_results"] == 2_000
    assert latency.details["worker_rss_kib"] and all(
        kib["VmRSS"] > 0 for kib in latency.details["worker_rss_kib"].values())
    throughput = consumer_throughput("sqlite", 200, 1, 100)
    [ratio] = throughput.checks
    assert math.isfinite(ratio.value) and ratio.value > 0
    rates = throughput.details["rates"]
    assert len(rates["with"]) == len(rates["without"]) == 1
