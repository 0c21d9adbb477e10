"""``okr.rollup.changed`` and ``okr.objective.status_changed``, written to this service's outbox.

At most one ``okr.rollup.changed`` per objective per batch (its progress or status moved
over the batch), and ``okr.objective.status_changed`` only when the status differs from
the one before. Keyed by the objective id, so per-objective order holds on the topic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from services.metrics.adapters.read_model import objective_attainment
from services.metrics.domain.graph import ObjectiveNode
from services.metrics.domain.rollup import RollupGraph
from shared.cloudevents import CloudEvent, new_event
from shared.contract import EventType
from shared.persistence.outbox import Outbox

NO_DATA = "no_data"


class RollupEvents:
    def __init__(self, outbox: Outbox, source: str, enabled: bool = True) -> None:
        self.outbox = outbox
        self.source = source
        self.enabled = enabled  # a rebuild writes the read model without publishing

    def publish(self, connection: Connection, graph: RollupGraph,
                before: dict[str, tuple[float | None, str | None]],
                causes: dict[str, str]) -> int:
        """Append the events for the objectives whose progress or status moved."""
        if not self.enabled:
            return 0
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        events: list[tuple[CloudEvent, str]] = []
        for objective_id, (progress_before, status_before) in before.items():
            node = graph.objective(objective_id)
            if node is None:
                continue  # deleted: its own okr.objective.deleted says so
            status = None if node.status is None else node.status.value
            if (node.progress, status) == (progress_before, status_before):
                continue  # moved and came back within the batch
            data = rollup_data(graph, node, now, causes.get(objective_id) or None)
            subject = f"objective/{objective_id}"
            events.append((new_event(EventType.ROLLUP_CHANGED, self.source, subject, data),
                           objective_id))
            if status != status_before:
                events.append((new_event(EventType.OBJECTIVE_STATUS_CHANGED, self.source,
                                         subject, {**data, "previous_status": status_before}),
                               objective_id))
        if events:
            self.outbox.append_many(connection, events)
            self.outbox.notify(connection)
        return len(events)


def rollup_data(graph: RollupGraph, node: ObjectiveNode, changed_at: str,
                cause_event_id: str | None) -> dict[str, Any]:
    return {
        "objective_id": node.id, "title": node.title, "cycle": node.cycle,
        "kind": node.kind.value, "departments": list(node.departments),
        "progress": node.progress, "attainment": objective_attainment(graph, node),
        "expected_progress": graph.expected_progress_of(node),
        "status": NO_DATA if node.status is None else node.status.value,
        "confidence": node.confidence, "changed_at": changed_at,
        "cause_event_id": cause_event_id,
    }
