"""Settled statuses in plain Python (``domain/settling.py``): when a status counts as held,
what its announcement says, and that a flap announces nothing; generated sequences too."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.notifications.domain.notices import Notice
from services.notifications.domain.settling import Watch, observe, settle, settled_summary
from tests.notifications.builders import AT, notice

SETTLE = 60.0


def change(status: str, previous: str, seconds: float) -> Notice:
    return notice(objective_id="capacity", title="Capacity", status=status,
                  previous_status=previous, settled=False,
                  occurred_at=AT + timedelta(seconds=seconds))


def run(changes: list[Notice], settle_seconds: float = SETTLE) -> tuple[Watch, list[Notice]]:
    """Observe each change (the worker's clock at the event's time); settle the last one if
    its wait ended (as the settling loop would, much later)."""
    watch: Watch | None = None
    announced: list[Notice] = []
    for item in changes:
        seen, settled = observe(watch, item, item.occurred_at, settle_seconds)
        announced += settled
        watch = seen or watch
    assert watch is not None
    if watch.waiting:
        watch, last = settle(watch)
        announced.append(last)
    return watch, announced


def test_a_flap_back_to_the_announced_status_announces_nothing() -> None:
    _, announced = run([change("off_track", "on_track", 0), change("at_risk", "off_track", 2),
                        change("on_track", "at_risk", 4)])
    assert announced == []


def test_a_held_status_is_announced_from_the_status_announced_before() -> None:
    _, announced = run([change("off_track", "on_track", 0), change("at_risk", "off_track", 2)])
    (only,) = announced
    assert (only.status, only.previous_status, only.settled) == ("at_risk", "on_track", True)
    assert settled_summary(only) == "'Capacity' is now at_risk (was on_track)"


def test_a_change_that_held_by_the_events_times_settles_when_the_next_arrives() -> None:
    _, announced = run([change("off_track", "on_track", 0),
                        change("on_track", "off_track", SETTLE)])
    assert [(n.status, n.previous_status) for n in announced] == [
        ("off_track", "on_track"), ("on_track", "off_track")]
    assert announced[1].recovery and "back on track" in settled_summary(announced[1])


def test_an_older_change_arriving_late_changes_nothing() -> None:
    first, _ = observe(None, change("off_track", "on_track", 10), AT, SETTLE)
    late, settled = observe(first, change("at_risk", "on_track", 5), AT, SETTLE)
    assert late is None and settled == []


statuses = st.sampled_from(["on_track", "at_risk", "off_track", "no_data"])


@given(st.lists(st.tuples(statuses, st.floats(0, 3 * SETTLE)), min_size=1, max_size=12))
def test_announcements_never_repeat_a_status_and_each_held_its_time(
    steps: list[tuple[str, float]]
) -> None:
    changes, previous, seconds = [], "on_track", 0.0
    for status, gap in steps:
        seconds += gap
        changes.append(change(status, previous, seconds))
        previous = status
    _, announced = run(changes)
    last = "on_track"
    position = {item.event_id: number for number, item in enumerate(changes)}
    for item in announced:
        assert item.previous_status == last and item.status != last
        last = item.status
        number = position[item.event_id]
        if number + 1 < len(changes):  # it held until the next change came
            held = changes[number + 1].occurred_at - item.occurred_at
            assert held >= timedelta(seconds=SETTLE)
    # whatever the flaps, the last status seen is the last announced (or the baseline)
    assert last == changes[-1].status
