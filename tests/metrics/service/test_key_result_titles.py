"""The consumer's graph does not keep key results' titles (memory, issue 17): it writes a
title from the state that brought it, keeps a row's title when it writes only figures, and
reads the title of a linked key result from the read model when a why names it."""

from __future__ import annotations

from sqlalchemy import select

from services.metrics.adapters import tables
from services.metrics.adapters.kept_outlooks import decoded
from services.metrics.bootstrap import Metrics
from tests.metrics import goal_events as ge
from tests.metrics.read_model import apply_events


def _titles(metrics: Metrics) -> dict[str, str]:
    k = tables.key_results
    with metrics.engine.connect() as connection:
        return {row.id: row.title for row in connection.execute(select(k.c.id, k.c.title))}


def test_a_why_names_a_linked_key_result_by_the_title_its_row_holds(metrics: Metrics) -> None:
    sales, finance, kr_sales, kr_finance = (ge.new_id() for _ in range(4))
    projection = apply_events(
        metrics, ge.cycle(), ge.objective(sales, ["sales"]), ge.objective(finance, ["finance"]),
        ge.key_result(kr_sales, sales),
        ge.key_result(kr_finance, finance, title="Close the funding round"),
        ge.check_in(kr_finance, finance, 2, 10.0, confidence=0.2,
                    title="Close the funding round"))
    assert projection.graph.title_of(kr_finance) is None  # written: the graph forgot it

    apply_events(metrics, ge.link(ge.new_id(), sales, "sales", "key_result", kr_finance,
                                  "finance"), projection=projection)

    o = tables.objectives
    with metrics.engine.connect() as connection:
        outlook = connection.execute(select(o.c.outlook).where(o.c.id == sales)).scalar_one()
    kept = decoded(outlook)
    assert kept is not None and kept.risk is not None
    assert (kept.risk.other_id, kept.risk.other_title) == (kr_finance, "Close the funding round")


def test_a_row_keeps_its_title_when_only_its_figures_are_written(metrics: Metrics) -> None:
    objective, total, part = ge.new_id(), ge.new_id(), ge.new_id()
    projection = apply_events(
        metrics, ge.cycle(), ge.objective(objective, ["sales"]),
        ge.key_result(total, objective, aggregation="sum", title="Revenue, all regions"),
        ge.key_result(part, objective, title="Revenue, north"),
        ge.contribution(ge.new_id(), "key_result", part, "key_result", total))
    # the summing key result's value moves: its row is written again, without its state
    apply_events(metrics, ge.check_in(part, objective, 2, 30.0, title="Revenue, north (EU)"),
                 projection=projection)

    k = tables.key_results
    with metrics.engine.connect() as connection:
        value = connection.execute(select(k.c.value).where(k.c.id == total)).scalar_one()
    assert value == 30.0
    assert _titles(metrics) == {total: "Revenue, all regions", part: "Revenue, north (EU)"}
