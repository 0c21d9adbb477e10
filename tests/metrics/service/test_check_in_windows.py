"""A key result's check-in window (the forecast's input, issue 15) is a function of its
events alone: the same check-ins applied by the projection one event per batch, all in one
batch, or cut into any batches (the key result's creation in the first of them, or before),
with late copies, leave the same window in the read model (the consumer holds only its
pace between batches) and as the next batch reads it after a reload, and the same pace in
memory, in the read model and after a reload; and that window is the newest check-in
times, each with the value of the newest version checked in at that time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.metrics.adapters import tables
from services.metrics.adapters.read_model import ReadModelRepository, history_of
from services.metrics.bootstrap import Metrics
from services.metrics.domain.forecast import WINDOW, pace
from shared.cloudevents import CloudEvent
from tests.metrics import goal_events as ge
from tests.metrics.read_model import apply_events

pytestmark = pytest.mark.timeout(300)

FIRST = datetime(2026, 10, 5, 9, tzinfo=UTC)
# few times, so that several versions are often checked in at the same time (a check-in
# observed earlier carries the key result's latest check-in again, at a new version)
TIMES = [(FIRST + timedelta(days=day)).isoformat().replace("+00:00", "Z") for day in range(16)]
VALUES = [0.0, 12.5, 40.0, 97.0, 100.0, 250.0]

Window = tuple[tuple[float, float, int], ...]

states = st.lists(st.tuples(st.sampled_from(TIMES), st.sampled_from(VALUES)),
                  min_size=1, max_size=30)


def batches(events: list[CloudEvent], cuts: list[int]) -> list[list[CloudEvent]]:
    bounds = sorted({0, len(events), *(cut % (len(events) + 1) for cut in cuts)})
    return [events[start:stop] for start, stop in pairwise(bounds)]


def expected_window(checked_in: list[tuple[str, float]]) -> Window:
    """From the definition: per time, the value of the newest version; the newest times."""
    newest: dict[float, tuple[float, int]] = {}
    for version, (at, value) in enumerate(checked_in, start=2):
        newest[datetime.fromisoformat(at).timestamp()] = (value, version)
    return tuple((at, value, version)
                 for at, (value, version) in sorted(newest.items()))[-WINDOW:]


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(checked_in=states, cuts=st.lists(st.integers(0, 40), max_size=6),
       late=st.lists(st.integers(0, 29), max_size=4))
def test_a_window_does_not_depend_on_how_its_check_ins_were_batched(
        metrics: Metrics, checked_in: list[tuple[str, float]], cuts: list[int],
        late: list[int]) -> None:
    projection = metrics.projection()
    projection.load()
    objective = ge.new_id()
    ways = ("one event a batch", "one batch", "cut into batches", "created in the batches")
    ids = {way: ge.new_id() for way in ways}
    created_late = ids["created in the batches"]  # its creation shares a batch with check-ins
    apply_events(metrics, ge.cycle(), ge.objective(objective, ["sales"]),
                 *(ge.key_result(kr, objective) for kr in ids.values() if kr != created_late),
                 projection=projection)

    def stream(kr: str) -> list[CloudEvent]:
        events = [ge.check_in(kr, objective, version, value, checked_in_at=at)
                  for version, (at, value) in enumerate(checked_in, start=2)]
        return events + [events[position % len(events)] for position in late]  # late copies

    for event in stream(ids["one event a batch"]):
        apply_events(metrics, event, projection=projection)
    apply_events(metrics, *stream(ids["one batch"]), projection=projection)
    for batch in batches(stream(ids["cut into batches"]), cuts):
        apply_events(metrics, *batch, projection=projection)
    for batch in batches([ge.key_result(created_late, objective), *stream(created_late)], cuts):
        apply_events(metrics, *batch, projection=projection)

    k = tables.key_results
    with metrics.engine.connect() as connection:
        rows = {row.id: row for row in connection.execute(
            select(k.c.id, k.c.check_ins, k.c.pace).where(k.c.id.in_(list(ids.values()))))}
    reloaded = metrics.projection()
    reloaded.load()
    with metrics.engine.connect() as connection:  # as the next batch reads them
        reloaded.graph.hold_windows(ReadModelRepository(connection).windows_of(ids.values()))
    expected = expected_window(checked_in)
    for way, kr in ids.items():
        held, loaded = projection.graph.key_result(kr), reloaded.graph.key_result(kr)
        assert held is not None and loaded is not None and not held.window_held
        assert (way, history_of(rows[kr].check_ins), loaded.history) == (way, expected, expected)
        assert (way, held.pace, rows[kr].pace, loaded.pace) == (way, *[pace(expected)] * 3)
