"""The read side over a real read model (SQLite and PostgreSQL): whatever the write side
accepted, ``/metrics``, ``/v1/rollups`` and the roll-up events answer with finite numbers.

JSON is parsed with a parser that refuses ``NaN`` and ``Infinity``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from services.metrics.adapters import tables
from services.metrics.adapters.exposition import render_read_model
from services.metrics.adapters.rollup_queries import RollupFilter, RollupQueries
from services.metrics.bootstrap import Metrics
from services.metrics.domain.attainment import objective_attainment
from services.metrics.domain.goal_items import CycleState
from services.metrics.domain.progress import ATTAINMENT_LIMIT, reported
from services.metrics.domain.rollup import RollupGraph
from services.metrics.entrypoints.api.app import create_app
from services.metrics.entrypoints.api.rollups import RollupSchema, RollupTreeSchema
from shared.clock import FakeClock
from shared.persistence.engine import writing
from shared.web.remote_auth import TokenIntrospector
from tests.conftest import ADMIN_TOKEN
from tests.metrics import goal_events as ge
from tests.metrics.read_model import apply_events
from tests.metrics.unit.builders import apply
from tests.metrics.unit.test_incremental_equals_full_recompute import objectives
from tests.metrics.unit.test_rollup_is_total import contributions, cycles, key_results, moments


def _refuse(constant: str) -> Any:
    raise ValueError(f"not JSON: {constant}")


def strict_json(text: str | bytes) -> Any:
    return json.loads(text, parse_constant=_refuse)


def samples(exposition: str) -> list[tuple[str, float]]:
    """(series, value) of every sample line of a Prometheus text exposition."""
    found = []
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            found.append((series, float(value)))
    return found


items = st.lists(st.one_of(cycles, objectives, key_results(), contributions()), max_size=14)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(items, moments)
def test_exposition_json_and_events_carry_only_finite_numbers_for_any_accepted_figures(
        metrics: Metrics, drawn: list[Any], now: datetime) -> None:
    graph = RollupGraph(clock=FakeClock(now))
    apply(graph, *[_versioned(item, version) for version, item in enumerate(drawn, start=1)])
    objective_ids, key_result_ids = graph.take_touched()
    with metrics.unit_of_work() as uow:
        uow.read_model.empty()
        uow.read_model.write_items(graph, objective_ids, key_result_ids,
                                   {edge.id for edge in graph.contributions()},
                                   {item.key for item in drawn if isinstance(item, CycleState)})
        uow.commit()

    for series, value in samples(render_read_model(metrics.engine, 10_000, lambda: now)):
        assert math.isfinite(value), series
    queries = RollupQueries(metrics.engine, lambda: now)
    listed, _ = queries.search(RollupFilter(), 0, 100)
    strict_json(json.dumps(RollupSchema(many=True).dump(listed), default=str))
    for objective in graph.objectives():
        tree = queries.tree(objective.id, 5)
        strict_json(json.dumps(RollupTreeSchema().dump(tree), default=str))
        # the figures an okr.rollup.changed event carries
        figures = (objective.progress, objective.confidence, objective_attainment(graph, objective),
                   graph.expected_progress_of(objective))
        assert all(reported(figure) == figure for figure in figures), figures


def _versioned(item: Any, version: int) -> Any:
    return replace(item, version=version)


# -- through the API --------------------------------------------------------------------------

OBJECTIVE, TINY, LAST_DAYS = ge.new_id(), ge.new_id(), "end-of-calendar"


@pytest.fixture
def client(metrics: Metrics, goals_server: str) -> Iterator[FlaskClient]:
    app = create_app(container=metrics, introspector=TokenIntrospector(goals_server))
    app.config["TESTING"] = True
    first_days = ge.cycle("start-of-calendar", starts_on="0001-01-01", ends_on="0001-01-01")
    last_days = ge.cycle(LAST_DAYS, starts_on="9999-12-31", ends_on="9999-12-31")
    objective = ge.objective(OBJECTIVE, ["sales"])
    objective.data["cycle"] = LAST_DAYS
    apply_events(metrics, first_days, last_days, objective,
                 ge.key_result(TINY, OBJECTIVE, start=0.0, target=1e-300),
                 ge.check_in(TINY, OBJECTIVE, 2, 1.0, confidence=1.0, target=1e-300))
    yield app.test_client()


def _get(client: FlaskClient, path: str) -> Any:
    response = client.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200, (path, response.get_data(as_text=True))
    return response


def test_a_cycle_ending_9999_12_31_and_a_tiny_span_are_served_as_finite_json(
        client: FlaskClient, metrics: Metrics) -> None:
    [listed] = strict_json(_get(client, "/v1/rollups").get_data())
    assert (listed["progress"], listed["attainment"]) == (1.0, ATTAINMENT_LIMIT)
    assert 0.0 <= listed["expected_progress"] <= 1.0
    tree = strict_json(_get(client, f"/v1/rollups/{OBJECTIVE}?depth=2").get_data())
    [key_result] = tree["children"]
    assert (key_result["target"], key_result["attainment"]) == (1e-300, ATTAINMENT_LIMIT)
    exposed = samples(_get(client, "/metrics").get_data(as_text=True))
    assert all(math.isfinite(value) for _, value in exposed)
    assert any(series.startswith("okr_objective_expected_progress_ratio") and OBJECTIVE in series
               for series, _ in exposed)
    outbox = tables.plumbing.outbox
    with metrics.engine.connect() as connection:
        payloads = connection.execute(select(outbox.c.payload)).scalars().all()
    changes = [strict_json(payload)["data"] for payload in payloads]
    assert {change["attainment"] for change in changes} == {ATTAINMENT_LIMIT}


def test_a_figure_stored_before_the_read_side_was_total_is_served_as_no_data(
        client: FlaskClient, metrics: Metrics) -> None:
    with writing(metrics.engine).begin() as connection:
        connection.execute(update(tables.objectives).values(attainment=math.inf,
                                                            progress=-math.inf))
        connection.execute(update(tables.key_results).values(attainment=math.inf,
                                                             progress=math.inf))
    [listed] = strict_json(_get(client, "/v1/rollups").get_data())
    assert (listed["progress"], listed["attainment"]) == (None, None)
    tree = strict_json(_get(client, f"/v1/rollups/{OBJECTIVE}?depth=1").get_data())
    assert tree["children"][0]["progress"] is None
    exposed = samples(_get(client, "/metrics").get_data(as_text=True))
    assert all(math.isfinite(value) for _, value in exposed)
    assert not any(series.startswith(("okr_objective_progress_ratio",
                                      "okr_key_result_progress_ratio"))
                   for series, _ in exposed)

