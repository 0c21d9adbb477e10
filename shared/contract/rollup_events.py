"""The events of ``okr.rollups.v1`` as typed values: written and read through one class.

The metrics service builds :class:`RollupChange` and publishes :meth:`RollupChange.data`;
the notification service reads it back with :func:`decode_rollup_event`, which raises
:class:`~shared.messaging.consumer.UnprocessableEvent` for anything the metrics service
(:data:`~shared.contract.METRICS_SOURCE`) could not have written. A test holds both equal
to the JSON Schemas of ``okr.rollup.changed`` and ``okr.objective.status_changed``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple

from shared.cloudevents import CloudEvent
from shared.contract import EventType, Topic
from shared.contract.goal_events import OBJECTIVE_KINDS, TITLE_LENGTH
from shared.contract.reading import (
    DAY,
    MAX_ID,
    Field,
    choice,
    event_type_on,
    identifier,
    moment,
    number,
    read,
    text,
    texts,
)

STATUSES = frozenset({"on_track", "at_risk", "off_track", "no_data"})
"""A roll-up's status; ``no_data`` when nothing rolls up into the objective yet."""


class RollupChange(NamedTuple):
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
    # Optional (older events lack them; a missing one reads as None): the attainment
    # expected at the cycle's end at the current pace (None: too little history), the day
    # the target would be reached at that pace (within a year), and one or two lines on
    # what holds the objective back.
    forecast: float | None = None
    forecast_reached_on: date | None = None
    why: str | None = None

    def data(self, *, status_changed: bool = False) -> dict[str, Any]:
        """The event's ``data``; ``status_changed`` adds ``previous_status``."""
        data: dict[str, Any] = {
            "objective_id": self.objective_id, "title": self.title, "cycle": self.cycle,
            "kind": self.kind, "departments": list(self.departments),
            "progress": self.progress, "attainment": self.attainment,
            "expected_progress": self.expected_progress, "status": self.status,
            "confidence": self.confidence,
            "changed_at": self.changed_at.isoformat().replace("+00:00", "Z"),
            "cause_event_id": self.cause_event_id, "forecast": self.forecast,
            "forecast_reached_on": (None if self.forecast_reached_on is None
                                    else self.forecast_reached_on.isoformat()),
            "why": self.why}
        if status_changed:
            data["previous_status"] = self.previous_status
        return data


class RollupEvent(NamedTuple):
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
    if event_type is EventType.OBJECTIVE_STATUS_CHANGED:
        values = read(event.data, STATUS_CHANGE_FIELDS, text_checked=event.text_checked)
    else:
        values = [*read(event.data, ROLLUP_FIELDS, text_checked=event.text_checked), None]
    data: dict[str, Any] = event.data  # read() has checked that it is an object
    values += read({field.name: data.get(field.name) for field in OPTIONAL_FIELDS},
                   OPTIONAL_FIELDS)
    change = RollupChange(*values)
    return RollupEvent(event.id, event_type, event.time, change)


ROLLUP_FIELDS = (
    identifier("objective_id"), text("title", TITLE_LENGTH, 0), text("cycle", 40),
    choice("kind", OBJECTIVE_KINDS), texts("departments", 40),
    number("progress", 0, 1, optional=True), number("attainment", optional=True),
    number("expected_progress", 0, 1, optional=True), choice("status", STATUSES),
    number("confidence", 0, 1, optional=True), moment("changed_at"),
    text("cause_event_id", MAX_ID, 0, optional=True))
"""The fields of ``okr.rollup.changed``, in the order of :class:`RollupChange`'s."""

STATUS_CHANGE_FIELDS = (*ROLLUP_FIELDS, choice("previous_status", STATUSES, optional=True))
"""The fields of ``okr.objective.status_changed``: those and ``previous_status``."""

WHY_LENGTH = 300

OPTIONAL_FIELDS = (
    number("forecast", optional=True), Field("forecast_reached_on", DAY, optional=True),
    text("why", WHY_LENGTH, 1, optional=True))
"""The fields both events may carry (older ones lack them): missing reads as None."""
