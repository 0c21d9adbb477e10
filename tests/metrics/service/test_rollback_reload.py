"""A batch whose transaction fails for real (the database refuses a row) leaves the graph in
memory equal to the database: the consumer's rollback hook reloads it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from services.metrics.adapters import tables
from services.metrics.bootstrap import Metrics
from tests.metrics import goal_events as ev
from tests.metrics.conftest import objective_row

pytestmark = pytest.mark.timeout(60)

REFUSED = "0e0e0e0e-0000-4000-8000-00000000dead"  # a key result the database refuses


def _refuse_key_result(metrics: Metrics, key_result_id: str) -> None:
    """A trigger that makes the database reject writing this key result."""
    with metrics.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(
                "CREATE OR REPLACE FUNCTION refuse_key_result() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.id = '{key_result_id}' THEN RAISE EXCEPTION 'refused by the test'; "
                "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
            connection.execute(text(
                "CREATE TRIGGER refuse_key_result BEFORE INSERT OR UPDATE ON key_results "
                "FOR EACH ROW EXECUTE FUNCTION refuse_key_result()"))
        else:
            connection.execute(text(
                "CREATE TRIGGER refuse_key_result BEFORE INSERT ON key_results "
                f"WHEN NEW.id = '{key_result_id}' BEGIN "
                "SELECT RAISE(ABORT, 'refused by the test'); END"))


def _drop_refusal(metrics: Metrics) -> None:
    with metrics.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER IF EXISTS refuse_key_result"
                                + (" ON key_results" if connection.dialect.name == "postgresql"
                                   else "")))


def test_graph_is_reloaded_equal_to_the_database_after_a_batch_transaction_fails(
        metrics: Metrics) -> None:
    projection = metrics.projection()
    projection.load()
    runner = metrics.consumer(projection)
    objective_id, key_result_id = ev.new_id(), ev.new_id()
    runner.apply_batch([ev.cycle(), ev.objective(objective_id, ["sales"]),
                        ev.key_result(key_result_id, objective_id, current=10)])
    committed = projection.graph.snapshot()

    _refuse_key_result(metrics, REFUSED)
    try:
        failing = [ev.check_in(key_result_id, objective_id, 2, 90.0),  # applied in memory
                   ev.key_result(REFUSED, objective_id, current=50)]  # refused on write
        with pytest.raises(DBAPIError, match="refused by the test"):
            runner.apply_batch(failing)
    finally:
        _drop_refusal(metrics)

    assert projection.graph.key_result(REFUSED) is None
    held = projection.graph.key_result(key_result_id)
    assert held is not None and held.version == 1 and held.progress == 0.1
    assert projection.graph.snapshot() == committed
    fresh = metrics.projection()
    fresh.load()
    assert projection.graph.snapshot() == fresh.graph.snapshot()
    assert objective_row(metrics, objective_id).progress == 0.1
    processed = tables.plumbing.processed_events
    with metrics.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(processed)).scalar() == 3

    # the same batch, once the database takes it, is applied in full (nothing was recorded)
    assert runner.apply_batch(failing) == ["applied", "applied"]
    assert objective_row(metrics, objective_id).progress == pytest.approx(0.7)
    fresh = metrics.projection()
    fresh.load()
    assert projection.graph.snapshot() == fresh.graph.snapshot()
