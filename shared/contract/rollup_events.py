"""The events of ``okr.rollups.v1`` as typed values: written and read through one class.

The metrics service builds :class:`RollupChange` and publishes :meth:`RollupChange.data`;
the notification service reads it back with :func:`decode_rollup_event`, which raises
:class:`~shared.messaging.consumer.UnprocessableEvent` for anything the metrics service
(:data:`~shared.contract.METRICS_SOURCE`) could not have written. A test holds both equal
to the JSON Schemas of ``okr.rollup.changed`` and ``okr.objective.status_changed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.cloudevents import CloudEvent
from shared.contract import EventType, Topic
from shared.contract.goal_events import OBJECTIVE_KINDS, TITLE_LENGTH
from shared.contract.reading import MAX_ID, Fields, event_type_on

STATUSES = frozenset({"on_track", "at_risk", "off_track", "no_data"})
"""A roll-up's status; ``no_data`` when nothing rolls up into the objective yet."""


@dataclass(frozen=True, slots=True)
class RollupChange:
    """An objective's roll-up after it moved: ``okr.rollup.changed``, and with
    ``previous_status`` (``None``: it had none) ``okr.objective.status_changed``."""

    objective_id: str
    title: str
    cycle: str
    kind: str
    departments: tuple[str, ...]
    progress: float | None
    attainment: float | None  # unclamped: over-achievement shows above 1
    expected_progress: float | None
    status: str
    confidence: float | None
    changed_at: datetime
    cause_event_id: str | None
    previous_status: str | None = None

    def data(self, *, status_changed: bool = False) -> dict[str, Any]:
        """The event's ``data``; ``status_changed`` adds ``previous_status``."""
        data: dict[str, Any] = {
            "objective_id": self.objective_id, "title": self.title, "cycle": self.cycle,
            "kind": self.kind, "departments": list(self.departments),
            "progress": self.progress, "attainment": self.attainment,
            "expected_progress": self.expected_progress, "status": self.status,
            "confidence": self.confidence,
            "changed_at": self.changed_at.isoformat().replace("+00:00", "Z"),
            "cause_event_id": self.cause_event_id}
        if status_changed:
            data["previous_status"] = self.previous_status
        return data


@dataclass(frozen=True, slots=True)
class RollupEvent:
    """One event of ``okr.rollups.v1``: its envelope and the roll-up it carries."""

    id: str
    type: EventType
    time: datetime
    change: RollupChange

    @property
    def is_status_change(self) -> bool:
        return self.type is EventType.OBJECTIVE_STATUS_CHANGED


def decode_rollup_event(event: CloudEvent) -> RollupEvent:
    """The typed event; :class:`UnprocessableEvent` if the metrics service could not have
    written it."""
    event_type = event_type_on(event, Topic.ROLLUPS)
    data = Fields(event.data)
    status_changed = event_type is EventType.OBJECTIVE_STATUS_CHANGED
    change = RollupChange(
        objective_id=data.identifier("objective_id"), title=data.text("title", TITLE_LENGTH, 0),
        cycle=data.text("cycle", 40), kind=data.choice("kind", OBJECTIVE_KINDS),
        departments=data.texts("departments", 40),
        progress=data.optional_number("progress", 0, 1),
        attainment=data.optional_number("attainment"),
        expected_progress=data.optional_number("expected_progress", 0, 1),
        status=data.choice("status", STATUSES),
        confidence=data.optional_number("confidence", 0, 1),
        changed_at=data.moment("changed_at"),
        cause_event_id=data.optional_text("cause_event_id", MAX_ID),
        previous_status=(data.optional_choice("previous_status", STATUSES) if status_changed
                         else None))
    return RollupEvent(event.id, event_type, event.time, change)
