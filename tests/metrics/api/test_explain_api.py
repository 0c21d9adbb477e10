"""``GET /v1/rollups/{id}/explain`` over a read model on each engine, authenticated by a
real goals service; and the forecast and why on the roll-up events of the same batch."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from flask import jsonify
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.metrics.adapters import tables
from services.metrics.adapters.exposition import render_read_model
from services.metrics.bootstrap import Metrics
from services.metrics.entrypoints.api.app import create_app
from services.metrics.entrypoints.api.explain import ExplanationSchema, explanation_view
from shared.clock import FakeClock
from shared.cloudevents import CloudEvent
from shared.contract import EventType
from shared.contract.rollup_events import decode_rollup_event
from shared.web.remote_auth import TokenIntrospector
from tests.conftest import ADMIN_TOKEN
from tests.metrics import goal_events as ge
from tests.metrics.read_model import apply_events

TARGET, SALES, MARKETING, PRODUCTION = (ge.new_id() for _ in range(4))
REVENUE, KR_SALES, KR_MARKETING, KR_PRODUCTION = (ge.new_id() for _ in range(4))
TODAY = datetime.now(UTC).date()
CYCLE_STARTS, CYCLE_ENDS = TODAY - timedelta(days=40), TODAY + timedelta(days=50)
SALES_LINE = (100.0, 6.0)  # value at the cycle's start, gained per day


def _moment(day: date) -> float:
    return datetime.combine(day, time(12), UTC).timestamp()


def _sales_value(at: float) -> float:
    start = datetime.combine(CYCLE_STARTS, time.min, UTC).timestamp()
    return SALES_LINE[0] + SALES_LINE[1] * (at - start) / 86_400


def check_in_at(key_result_id: str, objective_id: str, version: int, value: float,
                at: float, **kwargs: Any) -> CloudEvent:
    event = ge.check_in(key_result_id, objective_id, version, value, **kwargs)
    stamp = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
    event.data["key_result"]["last_checkin_at"] = stamp
    event.data["check_in"]["created_at"] = stamp
    return event


@pytest.fixture
def client(metrics: Metrics, goals_server: str) -> Iterator[FlaskClient]:
    app = create_app(container=metrics, introspector=TokenIntrospector(goals_server))
    app.config["TESTING"] = True
    sales_check_ins = [check_in_at(KR_SALES, SALES, version, _sales_value(_moment(day)),
                                   _moment(day), target=1000.0)
                       for version, day in enumerate(
                           (TODAY - timedelta(days=21), TODAY - timedelta(days=14),
                            TODAY - timedelta(days=7), TODAY - timedelta(days=1)), start=2)]
    apply_events(
        metrics, ge.cycle(starts_on=CYCLE_STARTS.isoformat(), ends_on=CYCLE_ENDS.isoformat()),
        ge.objective(TARGET, ["marketing", "sales"], title="Grow new revenue"),
        ge.objective(SALES, ["sales"], title="Win customers"),
        ge.objective(MARKETING, ["marketing"], title="Fill the pipeline"),
        ge.objective(PRODUCTION, ["production"], title="Onboarding capacity"),
        ge.key_result(REVENUE, TARGET, target=1000.0, aggregation="sum"),
        ge.key_result(KR_SALES, SALES, target=1000.0),
        ge.key_result(KR_MARKETING, MARKETING, target=500.0),
        ge.key_result(KR_PRODUCTION, PRODUCTION),
        ge.contribution(ge.new_id(), "objective", SALES, "objective", TARGET, weight=3.0),
        ge.contribution(ge.new_id(), "objective", MARKETING, "objective", TARGET),
        ge.contribution(ge.new_id(), "key_result", KR_SALES, "key_result", REVENUE),
        ge.contribution(ge.new_id(), "key_result", KR_MARKETING, "key_result", REVENUE),
        *sales_check_ins,
        check_in_at(KR_MARKETING, MARKETING, 2, 300.0, _moment(TODAY - timedelta(days=30)),
                    target=500.0),
        check_in_at(KR_PRODUCTION, PRODUCTION, 2, 5.0, _moment(TODAY - timedelta(days=2))),
        ge.link(ge.new_id(), SALES, "sales", "objective", PRODUCTION, "production",
                kind="supplied_by"),
    )
    yield app.test_client()


def _get(client: FlaskClient, path: str, token: str | None = ADMIN_TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, headers=headers)


def test_the_gap_is_shared_by_input_and_department_and_the_parts_add_up(
        client: FlaskClient) -> None:
    rollup = _get(client, f"/v1/rollups/{TARGET}").json
    response = _get(client, f"/v1/rollups/{TARGET}/explain")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["progress"] == rollup["progress"]
    assert body["gap"] == pytest.approx(body["expected_progress"] - body["progress"],
                                        abs=1e-12)
    assert math.fsum(i["share"] for i in body["inputs"] if i["share"] is not None) == \
        pytest.approx(body["gap"], abs=1e-9)
    departments = {d["department"]: d for d in body["gap_by_department"]}
    assert set(departments) == {"sales", "marketing"}  # the summing one splits by contributor
    assert math.fsum(d["share"] for d in departments.values()) == pytest.approx(body["gap"],
                                                                               abs=1e-9)
    [revenue] = body["sums"]
    amounts = {d["department"]: d for d in revenue["departments"]}
    sales_value = _sales_value(_moment(TODAY - timedelta(days=1)))
    assert amounts["sales"]["amount"] == pytest.approx(sales_value)
    assert amounts["marketing"]["amount"] == 300.0
    # pro rata to the contributors' plans: 1000 and 500
    assert amounts["sales"]["expected_amount"] == pytest.approx(
        revenue["expected_amount"] * 1000 / 1500)
    assert revenue["expected_amount"] == pytest.approx(1000 * body["expected_progress"])


def test_a_straight_line_history_forecasts_that_line_and_the_day_it_reaches_the_target(
        client: FlaskClient) -> None:
    body = _get(client, f"/v1/rollups/{SALES}/explain").json
    end = datetime.combine(CYCLE_ENDS + timedelta(days=1), time.min, UTC).timestamp()
    assert body["forecast"]["attainment"] == pytest.approx(_sales_value(end) / 1000, rel=1e-9)
    assert body["forecast"]["key_results_by_estimator"] == {"least_squares": 1}
    days_to_target = (1000 - SALES_LINE[0]) / SALES_LINE[1]
    reached = datetime.combine(CYCLE_STARTS, time.min, UTC) + timedelta(days=days_to_target)
    assert body["forecast"]["reached_on"] == reached.date().isoformat()
    assert body["forecast"]["pace_per_day"] == pytest.approx(SALES_LINE[1] / 1000)


def test_dependencies_at_risk_and_stale_inputs_are_named(client: FlaskClient) -> None:
    production = _get(client, f"/v1/rollups/{PRODUCTION}").json
    assert production["status"] in {"at_risk", "off_track"}
    body = _get(client, f"/v1/rollups/{TARGET}/explain").json
    [dependency] = body["dependencies_at_risk"]
    assert (dependency["id"], dependency["department"], dependency["status"],
            dependency["progress"]) == (PRODUCTION, "production", production["status"],
                                        production["progress"])
    assert "production 'Onboarding capacity'" in body["why"]
    # marketing's only check-in is 30 days old: older than the default 14 days
    assert [s["key_result_id"] for s in body["stale_inputs"]] == [KR_MARKETING]
    assert body["stale_after_days"] == 14


def test_an_archived_dependency_holds_nothing_back(client: FlaskClient,
                                                  metrics: Metrics) -> None:
    """Archived, production's objective is no dependency at risk any more: not in the
    explanation, not in the why of the list (from the consumer's kept outlook), and the
    two still agree."""
    apply_events(metrics, ge.objective(PRODUCTION, ["production"], version=2,
                                       title="Onboarding capacity", status="archived"))
    body = _get(client, f"/v1/rollups/{TARGET}/explain").json
    assert body["dependencies_at_risk"] == []
    assert "production" not in (body["why"] or "")
    listed = {item["objective_id"]: item for item in _get(client, "/v1/rollups").json}
    assert listed[TARGET]["why"] == body["why"]


def test_the_roll_up_list_and_item_tell_each_departments_part_forecast_and_why_as_explain(
        client: FlaskClient) -> None:
    listed = {item["objective_id"]: item for item in _get(client, "/v1/rollups").json}
    for objective_id in (TARGET, SALES, MARKETING, PRODUCTION):
        explained = _get(client, f"/v1/rollups/{objective_id}/explain").json
        for rollup in (listed[objective_id], _get(client, f"/v1/rollups/{objective_id}").json):
            assert rollup["why"] == explained["why"]
            assert rollup["forecast"] == pytest.approx(explained["forecast"]["attainment"])
            assert rollup["forecast_reached_on"] == explained["forecast"]["reached_on"]
            # told at the moment of each request: the clock moves by a few ms between them
            assert rollup["gap"] == pytest.approx(explained["gap"], abs=1e-6)
            parts = [(d["department"], d["share"], d["weight"], d["progress"])
                     for d in rollup["gap_by_department"]]
            assert parts == [(d["department"], pytest.approx(d["share"], abs=1e-6),
                              pytest.approx(d["weight"]), pytest.approx(d["progress"]))
                             for d in explained["gap_by_department"]]
    target = {d["department"]: d for d in listed[TARGET]["gap_by_department"]}
    assert set(target) == {"sales", "marketing"}
    # a department's own progress on its part: share = expected * weight - progress * weight
    expected = listed[TARGET]["expected_progress"]
    for part in target.values():
        assert part["share"] == pytest.approx(
            (expected - part["progress"]) * part["weight"], abs=1e-9)
    assert listed[SALES]["forecast"] is not None  # four weekly check-ins: a pace
    assert "production 'Onboarding capacity'" in listed[TARGET]["why"]


def test_the_answer_is_written_byte_for_byte_as_its_documented_schema_dumps_it(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The view writes its answer without the schema's dump (its cost at a thousand items):
    a value of another type than the schema's (an int for a float, a key it does not
    document) would change the bytes."""
    app = client.application
    queries = app.extensions["okr.metrics.explain"]
    now = datetime.now(UTC)
    monkeypatch.setattr(queries, "clock", lambda: now)  # the same figures in both
    for objective_id in (TARGET, SALES, MARKETING, PRODUCTION):
        answer = _get(client, f"/v1/rollups/{objective_id}/explain").get_data(as_text=True)
        found = queries.explain(objective_id)
        assert found is not None
        view = explanation_view(*found, queries.stale_after)
        with app.app_context():
            dumped = jsonify(ExplanationSchema().dump(view)).get_data(as_text=True)
        assert answer == dumped
    # what the answers compared hold: a day, moments, a summing key result, a dependency
    sales = _get(client, f"/v1/rollups/{SALES}/explain").json
    target = _get(client, f"/v1/rollups/{TARGET}/explain").json
    assert sales["forecast"]["reached_on"] is not None
    assert target["stale_inputs"] and target["sums"] and target["dependencies_at_risk"]


def test_explain_needs_a_token_and_an_objective_the_read_model_holds(
        client: FlaskClient) -> None:
    assert _get(client, f"/v1/rollups/{TARGET}/explain", token=None).status_code == 401
    missing = _get(client, f"/v1/rollups/{ge.new_id()}/explain")
    assert missing.status_code == 404
    assert missing.content_type == "application/problem+json"


@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(objective_id=st.text(min_size=1, max_size=300).filter(lambda t: "/" not in t))
def test_any_hostile_id_gets_a_clear_answer(client: FlaskClient, objective_id: str) -> None:
    response = _get(client, f"/v1/rollups/{objective_id}/explain")
    assert response.status_code in {404, 400}, response.data
    assert response.content_type == "application/problem+json"


def test_the_roll_up_events_carry_the_forecast_and_why(client: FlaskClient,
                                                       metrics: Metrics) -> None:
    outbox = tables.plumbing.outbox
    with metrics.engine.connect() as connection:
        rows = connection.execute(select(outbox.c.payload).where(
            outbox.c.event_type == EventType.ROLLUP_CHANGED.value)).all()
    changes = {}
    for row in rows:
        envelope = json.loads(row.payload)
        event = CloudEvent(envelope["type"], envelope["source"], envelope["subject"],
                           envelope["data"], envelope["id"],
                           datetime.fromisoformat(envelope["time"]))
        change = decode_rollup_event(event).change
        changes[change.objective_id] = change
    explained = _get(client, f"/v1/rollups/{SALES}/explain").json
    assert changes[SALES].forecast == pytest.approx(explained["forecast"]["attainment"])
    assert changes[SALES].forecast_reached_on is not None
    assert changes[SALES].forecast_reached_on.isoformat() == explained["forecast"]["reached_on"]
    assert changes[TARGET].why == _get(client, f"/v1/rollups/{TARGET}/explain").json["why"]


def test_metrics_expose_the_collective_targets_forecast_and_gap_by_department(
        client: FlaskClient) -> None:
    explained = _get(client, f"/v1/rollups/{TARGET}/explain").json
    text = client.get("/metrics").get_data(as_text=True)
    gaps = {}
    forecasts = []
    for line in text.splitlines():
        if line.startswith("okr_objective_gap_ratio{"):
            labels, value = line.rsplit(" ", 1)
            assert f'objective_id="{TARGET}"' in labels  # the only collective target
            gaps[labels.split('department="')[1].split('"')[0]] = float(value)
        elif line.startswith("okr_objective_forecast_ratio{"):
            forecasts.append(line)
    assert set(gaps) == {d["department"] for d in explained["gap_by_department"]}
    assert math.fsum(gaps.values()) == pytest.approx(explained["gap"], abs=1e-6)
    if explained["forecast"]["attainment"] is None:
        assert forecasts == []
    else:
        [line] = forecasts
        assert float(line.rsplit(" ", 1)[1]) == pytest.approx(
            explained["forecast"]["attainment"])


def test_metrics_tell_a_target_without_a_kept_outlook_from_its_subtree_alike(
        client: FlaskClient, metrics: Metrics) -> None:
    """``/metrics`` tells a collective target's forecast and gap from its kept outlook, and
    from its subtree while none is kept (a row written before the outlook was kept): the
    same lines."""
    clock = FakeClock(datetime.now(UTC))

    def told_lines() -> list[str]:
        return [line for line in render_read_model(metrics.engine, 10_000, clock).splitlines()
                if line.startswith(("okr_objective_gap_ratio{", "okr_objective_forecast_ratio{"))]

    from_kept = told_lines()
    assert from_kept  # the target's gap by department at least
    objectives = tables.objectives
    with metrics.engine.begin() as connection:
        connection.execute(objectives.update().where(objectives.c.id == TARGET)
                           .values(outlook=None))
    assert told_lines() == from_kept
