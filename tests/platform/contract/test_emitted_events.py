"""The suite-wide watch on emitted events: it catches a broken event and counts types."""

from __future__ import annotations

from shared.cloudevents import new_event
from shared.contract import EventType
from shared.persistence.outbox import Outbox
from tests.support.emitted_events import EmittedEvents


def test_an_event_that_breaks_its_schema_is_recorded_as_a_violation() -> None:
    watch = EmittedEvents()
    watch.check(new_event(EventType.CYCLE_CREATED, "/okr/goals", "cycle/2026-Q4",
                          {"key": "2026-Q4"}))
    assert len(watch.violations) == 1
    assert "okr.cycle.created" in watch.violations[0]
    assert watch.counts["okr.cycle.created"] == 1


def test_a_valid_event_is_counted_and_leaves_no_violation() -> None:
    watch = EmittedEvents()
    watch.check(new_event(EventType.CYCLE_CREATED, "/okr/goals", "cycle/2026-Q4", {
        "key": "2026-Q4", "name": "2026-Q4", "starts_on": "2026-10-01",
        "ends_on": "2026-12-31", "version": 1, "created_at": "2026-11-27T04:00:00Z",
        "updated_at": "2026-11-27T04:00:00Z"}))
    assert watch.violations == []
    assert EventType.CYCLE_CREATED.value not in watch.never_emitted()
    assert EventType.LINK_CREATED.value in watch.never_emitted()


def test_the_suite_watches_the_one_place_events_become_outbox_rows() -> None:
    assert "EmittedEvents.install" in Outbox.row.__qualname__
