"""End to end on real parts: figures checked in out of order (``observed_at``) through the goals
API -> relay -> Tansu -> metrics consumer: the read model holds the latest observed value;
its roll-up events, on the same broker, are read by the integrator's consumer of
docs/events.md, run as written (only its bootstrap address is pointed at the test broker).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.goals.bootstrap import Goals
from services.goals.service_layer.reference_data import seed_default_departments
from services.metrics.adapters import tables as metrics_tables
from services.metrics.bootstrap import Metrics
from tests.conftest import ApiClient
from tests.metrics.conftest import wait_for
from tools.embedded_broker import EmbeddedBroker

pytestmark = pytest.mark.timeout(120)

EVENTS_PAGE = Path(__file__).resolve().parents[3] / "docs" / "events.md"


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _key_result_in_metrics(metrics: Metrics, key_result_id: str) -> Any:
    table = metrics_tables.key_results
    with metrics.engine.connect() as connection:
        return connection.execute(select(table.c.version, table.c.checked_in, table.c.value)
                                  .where(table.c.id == key_result_id)).first()


def rollups_example() -> str:
    section = EVENTS_PAGE.read_text().split("\n### Following roll-ups (`okr.rollups.v1`)\n",
                                            1)[1]
    block = re.search(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert block is not None
    return block.group(1)


class _Read(Exception):
    """Ends the example's endless loop once it printed the roll-up the test waits for."""


@pytest.mark.parametrize("goals_database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("metrics_database_url", ["postgresql"], indirect=True)
def test_figures_loaded_out_of_order_reach_metrics_as_the_latest_observed(
        api: ApiClient, goals: Goals, metrics: Metrics, broker: EmbeddedBroker,
        run_in_background: Any) -> None:
    seed_default_departments(goals.unit_of_work())
    _created(api.post("/v1/cycles", json={"key": "2026-Q4", "starts_on": "2026-10-01",
                                          "ends_on": "2026-12-31"}))
    objective = _created(api.post("/v1/objectives", json={
        "cycle": "2026-Q4", "kind": "department", "departments": ["sales"], "owner": "Kim",
        "title": "Pipeline from the CRM"}))
    pipeline = _created(api.post(f"/v1/objectives/{objective['id']}/key-results", json={
        "title": "Qualified pipeline", "measure": "increase", "start": 0, "target": 1000,
        "unit": "kEUR"}))

    run_in_background(goals.relay().run)
    projection = metrics.projection()
    projection.load()
    run_in_background(metrics.consumer(projection).run)
    run_in_background(metrics.relay().run)

    # The CRM loads last week's figures: Wednesday's, then Friday's, then Monday's.
    friday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    figures = [(400.0, friday - timedelta(days=2)), (600.0, friday),
               (100.0, friday - timedelta(days=4))]
    for value, observed_at in figures:
        _created(api.post(f"/v1/key-results/{pipeline['id']}/check-ins", json={
            "value": value, "observed_at": observed_at.isoformat(), "source": "system"}))

    def all_three_applied() -> bool:
        row = _key_result_in_metrics(metrics, pipeline["id"])
        return row is not None and row.version == 4  # created, then three check-ins
    wait_for(all_three_applied, 60, "the three check-ins in the metrics read model")
    row = _key_result_in_metrics(metrics, pipeline["id"])
    assert (row.checked_in, row.value) == (600.0, 600.0)  # Friday's, not Monday's

    # The integrator's consumer of docs/events.md sees the objective's roll-up at 0.6.
    code = rollups_example()
    assert '"127.0.0.1:9092"' in code
    printed: list[tuple[Any, ...]] = []

    def print_until_latest(*values: Any) -> None:
        printed.append(values)
        if values[0] == objective["id"] and values[2] == 0.6:
            raise _Read

    namespace: dict[str, Any] = {"print": print_until_latest}
    try:
        with pytest.raises(_Read):
            exec(code.replace('"127.0.0.1:9092"', repr(broker.bootstrap_servers)), namespace)
    finally:
        if "consumer" in namespace:
            namespace["consumer"].close()
    mine = [values for values in printed if values[0] == objective["id"]]
    assert mine[-1] == (objective["id"], "Pipeline from the CRM", 0.6, mine[-1][3])
    assert 0.1 not in [values[2] for values in mine]
    # Every roll-up the metrics service wrote for it: Monday's figure never rolled up.
    outbox = metrics_tables.plumbing.outbox
    with metrics.engine.connect() as connection:
        payloads = connection.execute(select(outbox.c.payload).where(
            outbox.c.event_type == "okr.rollup.changed").order_by(outbox.c.position)).all()
    progress = [json.loads(row.payload)["data"]["progress"] for row in payloads
                if json.loads(row.payload)["data"]["objective_id"] == objective["id"]]
    assert progress and progress[-1] == 0.6 and 0.1 not in progress, progress
