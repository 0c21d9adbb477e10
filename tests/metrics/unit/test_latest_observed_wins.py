"""Check-ins loaded out of order (``observed_at``): the metrics service keeps the latest
observed value, because it applies each event's key result, never the checked-in value."""

from __future__ import annotations

from typing import Any

from services.metrics.domain.goal_items import KeyResultState
from services.metrics.service_layer.goal_events import decode
from shared.cloudevents import CloudEvent
from tests.metrics import goal_events as ge
from tests.metrics.unit.builders import apply, graph_at, objective

KR, OBJECTIVE = ge.new_id(), ge.new_id()


def _checked_in(version: int, value: float, observed_at: str, current: float) -> CloudEvent:
    """A check-in of ``value`` observed at ``observed_at``; the goals service's key result
    after it is at ``current`` (its latest observed value)."""
    event = ge.check_in(KR, OBJECTIVE, version, current, target=1000.0)
    data: dict[str, Any] = event.data
    data["check_in"]["value"] = value
    data["check_in"]["observed_at"] = observed_at
    return event


def test_a_late_older_observation_does_not_replace_the_current_value() -> None:
    graph = graph_at()
    apply(graph, objective(OBJECTIVE))
    created = decode(ge.key_result(KR, OBJECTIVE, target=1000.0)).change
    assert isinstance(created, KeyResultState)
    graph.upsert_key_result(created)
    events = [_checked_in(2, 400.0, "2026-11-18T16:00:00Z", current=400.0),   # Wednesday
              _checked_in(3, 600.0, "2026-11-20T16:00:00Z", current=600.0),   # Friday
              _checked_in(4, 100.0, "2026-11-16T16:00:00Z", current=600.0)]   # Monday, late
    for event in events:
        decoded = decode(event)
        assert decoded.is_check_in
        assert isinstance(decoded.change, KeyResultState)
        graph.upsert_key_result(decoded.change)
    node = graph.key_result(KR)
    assert node is not None and (node.version, node.checked_in) == (4, 600.0)
    parent = graph.objective(OBJECTIVE)
    assert parent is not None and parent.progress == 0.6
