"""``observed_at`` on check-ins over HTTP: figures loaded in any order, the latest observed is
current, every one is history and an event; bad values are 422 problems that change nothing.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.goals.adapters import tables
from services.goals.bootstrap import Goals
from tests.conftest import ApiClient
from tests.goals.api.conftest import assert_problem
from tests.goals.concurrency.conftest import Seeded, count_rows

LAST_WEEK = datetime.now(UTC).replace(microsecond=0) - timedelta(days=7)


def _at(days: int) -> str:
    """Last week's day ``days`` at 17:00 in Paris (UTC+1), as a CRM would send it."""
    moment = (LAST_WEEK + timedelta(days=days)).astimezone(timezone(timedelta(hours=1)))
    return moment.isoformat()


def _utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _checked_in_events(goals: Goals) -> list[dict[str, Any]]:
    outbox = tables.plumbing.outbox
    with goals.engine.connect() as connection:
        rows = connection.execute(select(outbox.c.payload).where(
            outbox.c.event_type == "okr.key_result.checked_in")
            .order_by(outbox.c.position)).all()
    return [json.loads(row.payload)["data"] for row in rows]


def test_figures_loaded_out_of_order_leave_the_latest_observed_current(
        api: ApiClient, goals: Goals, seeded_goals: Seeded) -> None:
    key_result = seeded_goals.key_result_ids[0]
    path = f"/v1/key-results/{key_result}/check-ins"
    sent = [(200.0, _at(2)), (300.0, _at(3)), (100.0, _at(1))]  # Tuesday, Wednesday, Monday
    answers = []
    for value, observed_at in sent:
        response = api.post(path, json={"value": value, "observed_at": observed_at,
                                        "source": "system"})
        assert response.status_code == 201, response.get_json()
        answers.append(response.get_json())
    assert [answer["observed_at"] for answer in answers] == [_utc(at) for _, at in sent]
    # Monday's figure came last but is the oldest: recorded, not current
    assert answers[-1]["key_result"]["current"] == 300.0
    assert answers[-1]["key_result"]["observed_at"] == _utc(_at(3))
    current = api.get(f"/v1/key-results/{key_result}").get_json()
    assert (current["current"], current["observed_at"]) == (300.0, _utc(_at(3)))
    assert current["version"] == 4  # created, then three check-ins

    history = api.get(path).get_json()
    assert sorted((item["value"], item["observed_at"]) for item in history) == sorted(
        (value, _utc(at)) for value, at in sent)

    events = _checked_in_events(goals)
    assert [event["check_in"]["observed_at"] for event in events] == [
        _utc(at).replace("+00:00", "Z") for _, at in sent]
    assert [event["key_result"]["current"] for event in events] == [200.0, 300.0, 300.0]


def test_a_check_in_without_observed_at_is_observed_when_recorded(
        api: ApiClient, goals: Goals, seeded_goals: Seeded) -> None:
    key_result = seeded_goals.key_result_ids[1]
    response = api.post(f"/v1/key-results/{key_result}/check-ins", json={"value": 5})
    assert response.status_code == 201
    body = response.get_json()
    assert body["observed_at"] == body["created_at"]
    assert body["key_result"]["observed_at"] == body["created_at"]
    [event] = _checked_in_events(goals)
    assert event["check_in"]["observed_at"] == event["check_in"]["created_at"]


def test_a_batch_takes_observed_at_per_item(
        api: ApiClient, seeded_goals: Seeded) -> None:
    key_result = seeded_goals.key_result_ids[2]
    response = api.post("/v1/check-ins/batch", json={"items": [
        {"key_result_id": key_result, "value": 9.0, "observed_at": _at(4)},
        {"key_result_id": key_result, "value": 4.0, "observed_at": _at(2)},
    ]})
    assert response.status_code == 200, response.get_json()
    assert [result["status"] for result in response.get_json()["results"]] == [201, 201]
    current = api.get(f"/v1/key-results/{key_result}").get_json()
    assert (current["current"], current["observed_at"]) == (9.0, _utc(_at(4)))


@pytest.mark.parametrize("observed_at, says", [
    (timedelta(minutes=6), "future"),  # ahead of the clock when the test runs
    ("2026-11-02T09:30:00", "offset"),  # no offset: which 09:30?
    ("1999-12-31T23:59:59Z", "2000"),
    ("last tuesday", "observed_at"),
    ("0001-01-01T00:00:00+01:00", "2000"),
    ("9999-12-31T23:59:59-23:59", "future"),
    (12345, "observed_at"),
])
def test_a_bad_observed_at_is_a_problem_that_changes_nothing(
        api: ApiClient, goals: Goals, seeded_goals: Seeded, observed_at: Any,
        says: str) -> None:
    if isinstance(observed_at, timedelta):
        observed_at = (datetime.now(UTC) + observed_at).isoformat()
    key_result = seeded_goals.key_result_ids[0]
    before = api.get(f"/v1/key-results/{key_result}").get_json()
    response = api.post(f"/v1/key-results/{key_result}/check-ins",
                        json={"value": 1, "observed_at": observed_at})
    problem = assert_problem(response, 422)
    assert says in json.dumps(problem), problem
    assert api.get(f"/v1/key-results/{key_result}").get_json() == before
    assert count_rows(goals, tables.check_ins) == 0


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(observed_at=st.one_of(
    st.text(max_size=40), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.none(), st.booleans(),
    st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
    st.datetimes().map(datetime.isoformat)))
def test_hostile_observed_at_is_taken_or_refused_never_a_server_error(
        api: ApiClient, seeded_goals: Seeded, observed_at: Any) -> None:
    key_result = seeded_goals.key_result_ids[1]
    response = api.post(f"/v1/key-results/{key_result}/check-ins",
                        json={"value": 1, "observed_at": observed_at})
    assert response.status_code in (201, 422), response.get_data(as_text=True)
    if response.status_code == 201 and observed_at is not None:
        stored = datetime.fromisoformat(response.get_json()["observed_at"])
        assert stored == datetime.fromisoformat(observed_at)
