"""Several check-ins of one key result in one batch: only the newest version is rolled up,
and every check-in is still counted once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.metrics.adapters import tables
from services.metrics.bootstrap import Metrics
from tests.metrics import goal_events as ev
from tests.metrics.conftest import objective_row

pytestmark = pytest.mark.timeout(60)


def test_batch_of_check_ins_ends_at_the_newest_version_and_counts_each_new_check_in(
        metrics: Metrics) -> None:
    projection = metrics.projection()
    projection.load()
    runner = metrics.consumer(projection)
    objective_id, key_result_id, other = ev.new_id(), ev.new_id(), ev.new_id()
    runner.apply_batch([ev.cycle(), ev.objective(objective_id, ["sales"]),
                        ev.key_result(key_result_id, objective_id),
                        ev.key_result(other, objective_id)])

    outcomes = runner.apply_batch([
        ev.check_in(key_result_id, objective_id, 2, 20.0),
        ev.check_in(key_result_id, objective_id, 4, 40.0),
        ev.check_in(other, objective_id, 2, 60.0),
        ev.check_in(key_result_id, objective_id, 3, 30.0),  # after 4: a copy, not counted
    ])

    assert outcomes == ["applied"] * 4
    held = projection.graph.key_result(key_result_id)
    assert held is not None and (held.version, held.current) == (4, 40.0)
    k = tables.key_results
    with metrics.engine.connect() as connection:
        row = connection.execute(select(k.c.version, k.c.value).where(
            k.c.id == key_result_id)).one()
        counted = connection.execute(select(tables.checkin_counters.c.count)).scalar_one()
    assert (row.version, row.value) == (4, 40.0)
    # 3 after 4 cannot be a new check-in (an item's changes are published in order): a
    # copy under another id; counted, it made the count depend on batching (outside attack)
    assert counted == 3
    assert objective_row(metrics, objective_id).progress == pytest.approx(0.5)
    fresh = metrics.projection()
    fresh.load()
    assert fresh.graph.snapshot() == projection.graph.snapshot()
