"""``okr.rollup.changed`` and ``okr.objective.status_changed``, written to this service's outbox.

At most one ``okr.rollup.changed`` per objective per batch (its progress or status moved
over the batch), and ``okr.objective.status_changed`` only when the status differs from
the one before. Keyed by the objective id, so per-objective order holds on the topic.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.metrics.domain.attainment import objective_attainment
from services.metrics.domain.explain import Explanation, Kept, Outlook, Told
from services.metrics.domain.explain_graph import told_in_graph
from services.metrics.domain.graph import ObjectiveNode
from services.metrics.domain.progress import reported
from services.metrics.domain.rollup import RollupGraph
from services.metrics.service_layer.unit_of_work import UnitOfWork
from shared.cloudevents import CloudEvent, new_event
from shared.contract import EventType
from shared.contract.rollup_events import RollupChange

NO_DATA = "no_data"


class RollupEvents:
    def __init__(self, source: str, enabled: bool = True, explain: bool = True) -> None:
        self.source = source
        self.enabled = enabled  # a rebuild writes the read model without publishing
        self.explain = explain  # forecast and why on the events (off: the benchmark's baseline)

    def publish(self, uow: UnitOfWork, graph: RollupGraph,
                before: dict[str, tuple[float | None, str | None]],
                causes: dict[str, str], outlooks: dict[str, Kept] | None = None) -> int:
        """Append the events for the objectives whose progress or status moved, each with
        its forecast and why told from what the projection keeps of it (``outlooks``, by
        objective id: ``domain/explain.py``'s ``Kept``, written in the same transaction)."""
        if not self.enabled:
            return 0
        now = datetime.now(UTC)
        outlooks = outlooks or {}
        events: list[tuple[CloudEvent, str]] = []
        for objective_id, (progress_before, status_before) in before.items():
            node = graph.objective(objective_id)
            if node is None:
                continue  # deleted: its own okr.objective.deleted says so
            status = None if node.status is None else node.status.value
            if (node.progress, status) == (progress_before, status_before):
                continue  # moved and came back within the batch
            kept = outlooks.get(objective_id) if self.explain else None
            told = None if kept is None else told_in_graph(graph, node, kept)
            change = rollup_change(graph, node, now, causes.get(objective_id) or None,
                                   status_before, told)
            subject = f"objective/{objective_id}"
            events.append((new_event(EventType.ROLLUP_CHANGED, self.source, subject,
                                     change.data()), objective_id))
            if status != status_before:
                events.append((new_event(EventType.OBJECTIVE_STATUS_CHANGED, self.source,
                                         subject, change.data(status_changed=True)),
                               objective_id))
        uow.publish(events)
        return len(events)


def rollup_change(graph: RollupGraph, node: ObjectiveNode, changed_at: datetime,
                  cause_event_id: str | None, previous_status: str | None,
                  told: Explanation | Outlook | Told | None = None) -> RollupChange:
    """``told``: the objective's forecast and why (``explain.outlook``), if kept."""
    forecast, why = (None, None) if told is None else (told.forecast, told.why)
    return RollupChange(
        objective_id=node.id, title=node.title, cycle=node.cycle, kind=node.kind.value,
        departments=tuple(node.departments), progress=reported(node.progress),
        attainment=reported(objective_attainment(graph, node)),
        expected_progress=reported(graph.expected_progress_of(node)),
        status=NO_DATA if node.status is None else node.status.value,
        confidence=reported(node.confidence), changed_at=changed_at,
        cause_event_id=cause_event_id, previous_status=previous_status,
        forecast=None if forecast is None else reported(forecast.attainment),
        forecast_reached_on=None if forecast is None else forecast.reached_on,
        why=why)
