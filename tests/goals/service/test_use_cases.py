"""The goals use cases through the service layer, on the in-memory unit of work: no HTTP, no
database. What they prove about the SQL unit of work, the API tests prove over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from services.goals.domain.access import Principal, Role
from services.goals.domain.errors import Forbidden
from services.goals.domain.goals import CheckIn, KeyResult, Measure, ObjectiveKind
from services.goals.domain.graph import ItemType
from services.goals.service_layer import check_ins, graph, housekeeping, objectives
from services.goals.service_layer.fakes import FakeStore, FakeUnitOfWork
from services.goals.service_layer.reference_data import create_cycle, seed_default_departments
from services.goals.service_layer.repositories import StoredResponse
from shared.clock import FakeClock
from shared.contract import EventType

ADMIN = Principal(name="sponsor", role=Role.ADMIN)
SALES_HEAD = Principal(name="head of sales", role=Role.HEAD, department="sales", token_id="t1")


def render(check_in: CheckIn, key_result: KeyResult) -> str:
    return json.dumps({"id": check_in.id, "current": key_result.current})


@pytest.fixture
def store() -> FakeStore:
    store = FakeStore()
    seed_default_departments(FakeUnitOfWork(store))
    create_cycle(FakeUnitOfWork(store), ADMIN, "2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
    return store


def objective_of(store: FakeStore, department: str) -> str:
    return objectives.create_objective(
        FakeUnitOfWork(store), ADMIN, cycle="2026-Q4", kind=ObjectiveKind.DEPARTMENT,
        departments=[department], owner="owner", title=f"{department} grows").id


def key_result_of(store: FakeStore, objective_id: str) -> str:
    return objectives.add_key_result(
        FakeUnitOfWork(store), ADMIN, objective_id,
        objectives.KeyResultDefinition(title="revenue", measure=Measure.INCREASE, start=0,
                                       target=100, unit="kEUR")).id


def test_a_check_in_sets_the_value_and_queues_its_row_event_and_audit_entry(
        store: FakeStore) -> None:
    key_result_id = key_result_of(store, objective_of(store, "sales"))
    changes_before = len(store.changes)
    uow = FakeUnitOfWork(store, request_id="req-1")

    outcome = check_ins.record_check_in(
        uow, SALES_HEAD, check_ins.CheckInRequest(key_result_id, value=40, confidence=0.7,
                                                  note="on track"), render)

    key_result = store.key_results[key_result_id]
    assert (key_result.current, key_result.confidence, key_result.version) == (40, 0.7, 2)
    assert [(c.value, c.author) for c in store.check_ins] == [(40, "head of sales")]
    assert outcome.body == render(store.check_ins[0], key_result) and not outcome.replayed
    [change] = store.changes[changes_before:]
    assert change.event_type is EventType.KEY_RESULT_CHECKED_IN
    assert (change.item_type, change.item_id, change.department) == (
        "key_result", key_result_id, "sales")
    assert change.after["key_result"]["current"] == 40
    assert change.after["check_in"]["id"] == store.check_ins[0].id
    assert change.before is not None and change.before["version"] == 1
    assert uow.commits == 1


def test_a_check_in_writes_nothing_before_the_commit(store: FakeStore) -> None:
    key_result_id = key_result_of(store, objective_of(store, "sales"))
    changes_before = len(store.changes)
    uow = FakeUnitOfWork(store)
    with uow:
        check_ins._apply(uow, SALES_HEAD, check_ins.CheckInRequest(key_result_id, value=5),
                         uow.key_results.for_check_in(key_result_id))
    assert store.check_ins == [] and len(store.changes) == changes_before
    assert store.key_results[key_result_id].version == 1


def test_a_check_in_retried_with_its_idempotency_key_is_applied_once(
        store: FakeStore) -> None:
    key_result_id = key_result_of(store, objective_of(store, "sales"))
    request = check_ins.CheckInRequest(key_result_id, value=40, idempotency_key="k",
                                       fingerprint="f")
    clock = FakeClock(datetime(2026, 11, 2, 9, tzinfo=UTC))
    first = check_ins.record_check_in(FakeUnitOfWork(store), SALES_HEAD, request, render, clock)
    again = check_ins.record_check_in(FakeUnitOfWork(store), SALES_HEAD, request, render, clock)
    assert (again.body, again.replayed) == (first.body, True)
    assert len(store.check_ins) == 1
    assert store.idempotency[("t1", "k")] == (StoredResponse("f", 201, first.body or ""),
                                             clock.now)


def test_a_contribution_that_would_close_a_cycle_is_refused_and_writes_nothing(
        store: FakeStore) -> None:
    sales, marketing = objective_of(store, "sales"), objective_of(store, "marketing")
    graph.add_contribution(FakeUnitOfWork(store), ADMIN, child=(ItemType.OBJECTIVE, sales),
                           parent=(ItemType.OBJECTIVE, marketing), weight=1)
    edges, changes = dict(store.contributions), list(store.changes)
    uow = FakeUnitOfWork(store)

    with pytest.raises(graph.GraphConflict, match="cycle"):
        graph.add_contribution(uow, ADMIN, child=(ItemType.OBJECTIVE, marketing),
                               parent=(ItemType.OBJECTIVE, sales), weight=1)

    assert store.contributions == edges and store.changes == changes
    assert uow.contributions.graph_locks == 1 and uow.commits == 0


def test_a_key_result_contributing_to_its_own_objective_is_refused_and_writes_nothing(
        store: FakeStore) -> None:
    sales = objective_of(store, "sales")
    key_result_id = key_result_of(store, sales)
    edges, changes = dict(store.contributions), list(store.changes)
    uow = FakeUnitOfWork(store)

    with pytest.raises(graph.GraphConflict, match="its own objective"):
        graph.add_contribution(uow, ADMIN, child=(ItemType.KEY_RESULT, key_result_id),
                               parent=(ItemType.OBJECTIVE, sales), weight=1)

    assert store.contributions == edges and store.changes == changes and uow.commits == 0
    # into another objective it still contributes
    marketing = objective_of(store, "marketing")
    graph.add_contribution(FakeUnitOfWork(store), ADMIN,
                           child=(ItemType.KEY_RESULT, key_result_id),
                           parent=(ItemType.OBJECTIVE, marketing), weight=1)
    assert len(store.contributions) == len(edges) + 1


def test_head_cannot_change_another_departments_objective(store: FakeStore) -> None:
    marketing = objective_of(store, "marketing")
    changes = list(store.changes)
    with pytest.raises(Forbidden):
        objectives.change_objective(FakeUnitOfWork(store), SALES_HEAD, marketing,
                                    objectives.ObjectiveChanges(title="ours now"), None)
    assert store.objectives[marketing].title == "marketing grows"
    assert store.objectives[marketing].version == 1 and store.changes == changes


def test_head_cannot_check_in_on_another_departments_key_result(store: FakeStore) -> None:
    key_result_id = key_result_of(store, objective_of(store, "marketing"))
    with pytest.raises(Forbidden):
        check_ins.record_check_in(FakeUnitOfWork(store), SALES_HEAD,
                                  check_ins.CheckInRequest(key_result_id, value=1), render)
    assert store.check_ins == [] and store.key_results[key_result_id].version == 1


def test_a_batch_item_that_fails_leaves_the_others_applied(store: FakeStore) -> None:
    sales_kr = key_result_of(store, objective_of(store, "sales"))
    marketing_kr = key_result_of(store, objective_of(store, "marketing"))
    outcomes = check_ins.record_check_ins(FakeUnitOfWork(store), SALES_HEAD, [
        check_ins.CheckInRequest(sales_kr, value=10),
        check_ins.CheckInRequest(marketing_kr, value=20),
        check_ins.CheckInRequest(sales_kr, value=30)], render)
    assert [isinstance(o.error, Forbidden) for o in outcomes] == [False, True, False]
    assert [c.value for c in store.check_ins] == [10, 30]
    assert (store.key_results[sales_kr].current, store.key_results[sales_kr].version) == (30, 3)
    assert store.key_results[marketing_kr].version == 1


def test_purging_forgets_only_the_idempotency_keys_older_than_the_retention(
        store: FakeStore) -> None:
    clock = FakeClock(datetime(2026, 11, 2, 9, tzinfo=UTC))
    stored = StoredResponse("f", 201, "{}")
    with FakeUnitOfWork(store) as uow:
        uow.idempotency.add("t1", "old", stored, clock.now - timedelta(days=2))
        uow.idempotency.add("t1", "new", stored, clock.now - timedelta(hours=1))
        uow.commit()
    deleted = housekeeping.purge_idempotency_keys(lambda: FakeUnitOfWork(store),
                                                  timedelta(days=1), clock)
    assert deleted == 1 and list(store.idempotency) == [("t1", "new")]
