"""The graph a consumer starts with (loaded from the read model in bulk) is the graph the
consumer had when it wrote that read model: every item's definition, figures, sums and
the pace of its check-in window, whatever the events were and however they were batched;
neither holds a window between batches (the read model does: a batch reads those it
checks in)."""

from __future__ import annotations

import gc
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.metrics.adapters import tables
from services.metrics.adapters.read_model import history_of
from services.metrics.bootstrap import Metrics
from services.metrics.domain.forecast import pace
from services.metrics.domain.rollup import RollupGraph
from services.metrics.service_layer.projection import RollupProjection
from shared.clock import FakeClock
from shared.cloudevents import CloudEvent
from tests.metrics import goal_events as ge
from tests.metrics.read_model import apply_events

pytestmark = pytest.mark.timeout(300)

FIRST = datetime(2026, 10, 5, 9, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def at(day: float) -> str:
    return (FIRST + timedelta(days=day)).isoformat().replace("+00:00", "Z")


def graph_state(projection: RollupProjection) -> dict[str, Any]:
    """Everything the graph holds that a later batch or a read could tell apart."""
    graph: RollupGraph = projection.graph
    objectives = {
        o.id: (o.version, o.cycle, o.kind, o.departments, o.title, o.owner, o.archived,
               o.progress, o.confidence, o.status, o.progress_inputs.mean(),
               o.progress_inputs.count, o.confidence_inputs.mean(),
               o.confidence_inputs.count, graph.expected_progress_of(o),
               sorted(k.id for k in graph.key_results_of(o.id)),
               sorted((w, c.id) for w, c in graph.inputs_of(o)),
               sorted((w, p.id) for w, p in graph.parents_of(o)))
        for o in graph.objectives()}
    key_results = {}
    for k in graph.key_results():
        inputs = k.inputs
        key_results[k.id] = (
            k.version, k.objective_id, k.measure, k.aggregation, k.start, k.target, k.weight,
            k.unit, k.checked_in, k.given_confidence, k.last_checkin_at, k.current,
            k.progress, k.confidence, k.attainment, k.window_held, k.pace, k.signal(),
            None if inputs is None else (inputs.sum(), inputs.count),
            sorted((w, c.id) for w, c in graph.inputs_of(k)),
            sorted((w, p.id) for w, p in graph.parents_of(k)))
    contributions = {
        c.id: (c.version, c.child_type, c.child_id, c.parent_type, c.parent_id, c.weight,
               c.active) for c in graph.contributions()}
    return {"objectives": objectives, "key_results": key_results,
            "contributions": contributions, "snapshot": graph.snapshot(),
            "cycles": {key: graph.cycle(key) for key in {o.cycle for o in graph.objectives()}},
            "links": projection.links, "link_index": {
                item: sorted(link.id for link in projection.link_index.of(item))
                for item in [*objectives, *key_results]}}


def loaded(metrics: Metrics, clock: FakeClock) -> RollupProjection:
    projection = metrics.projection(clock=clock)
    projection.load()
    return projection


def assert_load_equals(metrics: Metrics, applied: RollupProjection, clock: FakeClock) -> None:
    fresh = loaded(metrics, clock)
    expected, actual = graph_state(applied), graph_state(fresh)
    for part in expected:
        assert actual[part] == expected[part], part


def company_events() -> list[list[CloudEvent]]:
    """Batches of a small company's events, in awkward orders: a key result before its
    objective, contributions before their ends, a contribution that would close a cycle,
    removals, summing key results, windows over twelve check-ins, a check-in time checked
    in again at a later version, a key result redefined after its check-ins."""
    o1, o2, o3, o4 = (ge.new_id() for _ in range(4))
    k = [ge.new_id() for _ in range(9)]
    c = [ge.new_id() for _ in range(7)]
    link = ge.new_id()
    first = [
        ge.cycle(),
        ge.key_result(k[6], o3, current=5.0, checked_in_at=at(0)),  # before its objective
        ge.objective(o1, ["sales"]),
        ge.objective(o2, ["sales", "marketing"], title="collective"),
        ge.contribution(c[0], "objective", o1, "objective", o2, weight=2.0),  # before O1's KRs
        ge.key_result(k[0], o1),
        ge.key_result(k[1], o1, start=100.0, target=20.0, weight=3.0, confidence=0.4,
                      current=90.0, checked_in_at=at(1)),
        ge.key_result(k[2], o2, aggregation="sum", target=1000.0),
        ge.key_result(k[3], o2, weight=0.0, current=50.0, checked_in_at=at(1)),
        ge.key_result(k[4], o1, unit="EUR"),
        ge.contribution(c[1], "key_result", k[0], "key_result", k[2]),
        ge.contribution(c[2], "key_result", k[4], "key_result", k[2], weight=0.0),
        ge.objective(o4, ["finance"]),
        ge.key_result(k[5], o4, current=1.0, checked_in_at=at(2)),
        ge.link(link, o1, "sales", "objective", o4, "finance"),
    ]
    # k0: 15 weekly check-ins (the window keeps 12), confidence given on some
    check_ins = [ge.check_in(k[0], o1, version, 7.0 * version, confidence=(
        None if version % 3 else 0.2 + version / 40), checked_in_at=at(7 * version))
        for version in range(2, 17)]
    second = [
        *check_ins[:8],
        ge.objective(o3, ["production"], owner="owner 3"),
        ge.contribution(c[3], "key_result", k[6], "objective", o1, weight=0.5),
        ge.contribution(c[4], "objective", o2, "objective", o1),  # would close a cycle
        ge.check_in(k[4], o1, 2, 10.0, checked_in_at=at(3)),
        ge.check_in(k[4], o1, 3, 12.0, checked_in_at=at(3)),  # the same time, a later version
        ge.check_in(k[1], o1, 2, 60.0, confidence=0.9, checked_in_at=at(4)),
        ge.key_result(k[7], o2, current=3.0, checked_in_at=at(5)),
    ]
    third = [
        *check_ins[8:],
        ge.key_result(k[1], o1, version=3, start=100.0, target=20.0, weight=3.0,
                      confidence=0.9, current=60.0, checked_in_at=at(4),
                      title="renamed"),  # its check-in again, at a later version
        ge.key_result_deleted(k[7], o2, 2),
        ge.contribution(c[2], "key_result", k[4], "key_result", k[2], weight=0.0,
                        removed=True),
        ge.contribution(c[5], "key_result", k[4], "key_result", k[2]),
        ge.objective(o4, ["finance"], version=2, deleted=True),
        ge.link(link, o1, "sales", "objective", o4, "finance", removed=True),
        ge.check_in(k[3], o2, 2, 75.0, checked_in_at=at(6)),
        ge.key_result(k[8], o3, aggregation="sum", current=4.0),
        ge.contribution(c[6], "key_result", k[3], "key_result", k[8]),
    ]
    return [first, second, third]


def test_the_loaded_graph_is_the_graph_that_wrote_the_read_model(metrics: Metrics) -> None:
    clock = FakeClock(NOW)
    projection = loaded(metrics, clock)
    for batch in company_events():
        apply_events(metrics, *batch, projection=projection)
        assert_load_equals(metrics, projection, clock)
    k = tables.key_results.c
    with metrics.engine.connect() as connection:
        full = [(row.id, history_of(row.check_ins)) for row in connection.execute(
            select(k.id, k.check_ins)) if len(history_of(row.check_ins)) == 12]
    assert full, "the pace of a full window was compared"
    for key_result_id, window in full:
        node = projection.graph.key_result(key_result_id)
        assert node is not None and not node.window_held
        assert node.pace == pace(window) is not None


def test_the_loaded_graph_goes_on_as_the_graph_that_wrote_it(metrics: Metrics) -> None:
    """The next batch, applied to a graph loaded in between, leaves it as it leaves the
    graph that never restarted."""
    clock = FakeClock(NOW)
    batches = company_events()
    running = loaded(metrics, clock)
    for batch in batches[:2]:
        apply_events(metrics, *batch, projection=running)
    restarted = loaded(metrics, clock)
    apply_events(metrics, *batches[2], projection=restarted)
    apply_events(metrics, *batches[2], projection=running)
    assert graph_state(restarted) == graph_state(running)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_histories_load_back_equal(metrics: Metrics, seed: int) -> None:
    """Random events over a few items (created, redefined, checked in at random times,
    moved between objectives, removed and created again with new ids), in random
    batches: after each batch, the graph loaded from the read model equals the graph."""
    rng = random.Random(seed)
    clock = FakeClock(NOW)
    projection = loaded(metrics, clock)
    objectives = [ge.new_id() for _ in range(4)]
    key_results = [ge.new_id() for _ in range(10)]
    versions: dict[str, int] = {}
    events: list[CloudEvent] = [ge.cycle()]
    for _ in range(160):
        roll = rng.random()
        if roll < 0.12:
            objective_id = rng.choice(objectives)
            version = versions.get(objective_id, 0) + 1
            versions[objective_id] = version
            events.append(ge.objective(objective_id, rng.choice([["sales"],
                                                                 ["sales", "marketing"]]),
                                       version=version))
        elif roll < 0.2:
            objective_id = rng.choice(objectives)
            if versions.get(objective_id):
                events.append(ge.objective(objective_id, ["sales"],
                                           version=versions[objective_id], deleted=True))
                objectives[objectives.index(objective_id)] = ge.new_id()
        elif roll < 0.28:
            child, parent = rng.sample(key_results, 2)
            kind = rng.choice(["key_result", "objective"])
            events.append(ge.contribution(
                ge.new_id(), "key_result", child, kind,
                parent if kind == "key_result" else rng.choice(objectives),
                weight=rng.choice([0.0, 0.5, 1.0, 2.0])))
        elif roll < 0.33:
            key_result_id = rng.choice(key_results)
            if versions.get(key_result_id):
                events.append(ge.key_result_deleted(key_result_id, rng.choice(objectives),
                                                    versions[key_result_id]))
                key_results[key_results.index(key_result_id)] = ge.new_id()
        else:
            key_result_id = rng.choice(key_results)
            version = versions.get(key_result_id, 0) + 1
            versions[key_result_id] = version
            kwargs: dict[str, Any] = {
                "version": version, "weight": rng.choice([0.0, 1.0, 1.5]),
                "aggregation": "sum" if rng.random() < 0.15 else "check_ins",
                "confidence": rng.choice([None, 0.3, 0.8]),
                "checked_in_at": at(rng.randrange(40) / 2)}
            objective_id = rng.choice(objectives[:2] if rng.random() < 0.8 else objectives)
            if version == 1 or rng.random() < 0.2:
                events.append(ge.key_result(key_result_id, objective_id,
                                            current=rng.choice([None, 10.0, 55.5]), **kwargs))
            else:
                events.append(ge.check_in(key_result_id, objective_id,
                                          value=rng.choice([0.0, 20.0, 33.3, 80.0, 120.0]),
                                          **kwargs))
    position = 0
    while position < len(events):
        size = rng.randint(1, 40)
        apply_events(metrics, *events[position:position + size], projection=projection)
        position += size
        assert_load_equals(metrics, projection, clock)


def test_a_load_leaves_the_cyclic_collector_as_it_found_it(metrics: Metrics) -> None:
    """The load pauses the collector while it builds the graph, and only then."""
    clock = FakeClock(NOW)
    apply_events(metrics, *company_events()[0], projection=loaded(metrics, clock))
    assert gc.isenabled()
    loaded(metrics, clock)
    assert gc.isenabled()
    gc.disable()
    try:
        loaded(metrics, clock)
        assert not gc.isenabled()
    finally:
        gc.enable()
