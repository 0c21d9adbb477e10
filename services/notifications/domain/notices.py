"""A notice: what one consumed event means to the people who might hear about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.contract import EventType

#: Statuses of the roll-up (the ``status`` of ``okr.objective.status_changed``).
STATUSES = frozenset({"on_track", "at_risk", "off_track", "no_data"})
#: Statuses that make a dependent department's head hear at once.
ALARMING_STATUSES = frozenset({"at_risk", "off_track"})

#: The event types a subscription may filter on: every goal or roll-up event we consume.
NOTIFIABLE_EVENT_TYPES = frozenset({
    EventType.OBJECTIVE_CREATED, EventType.OBJECTIVE_UPDATED, EventType.OBJECTIVE_DELETED,
    EventType.KEY_RESULT_CREATED, EventType.KEY_RESULT_UPDATED, EventType.KEY_RESULT_DELETED,
    EventType.KEY_RESULT_CHECKED_IN, EventType.CONTRIBUTION_ADDED,
    EventType.CONTRIBUTION_REMOVED, EventType.LINK_CREATED, EventType.LINK_REMOVED,
    EventType.ROLLUP_CHANGED, EventType.OBJECTIVE_STATUS_CHANGED,
})


#: The status change's type as a plain string: an enum member's ``.value`` is a descriptor
#: call, and ``is_status_change`` is asked several times per matched subscription.
_STATUS_CHANGED = EventType.OBJECTIVE_STATUS_CHANGED.value


@dataclass(frozen=True)
class Notice:
    """One event, seen from the objective it concerns.

    ``dependent_departments`` are the departments with a link from one of their items to
    this objective (or one of its key results): they depend on it.
    """

    event_id: str
    event_type: str
    objective_id: str
    title: str
    kind: str  # "department" | "collective" | "" when the objective is unknown
    departments: tuple[str, ...]
    occurred_at: datetime
    summary: str
    status: str | None = None
    previous_status: str | None = None
    dependent_departments: frozenset[str] = frozenset()
    details: dict[str, Any] = field(default_factory=dict)
    settled: bool = False
    """A status that held long enough to be announced at once (``domain/settling.py``);
    ``previous_status`` is then the status announced before."""

    @property
    def is_status_change(self) -> bool:
        return self.event_type == _STATUS_CHANGED

    @property
    def routine(self) -> bool:
        """Only a settled status change goes out at once; everything else (check-ins,
        edits, roll-up ticks, a status change as it happens) goes into digests."""
        return not (self.is_status_change and self.settled)

    @property
    def recovery(self) -> bool:
        """Back on track after an announced ``at_risk`` or ``off_track``."""
        return (self.settled and self.status == "on_track"
                and self.previous_status in ALARMING_STATUSES)

    @property
    def collective(self) -> bool:
        return self.kind == "collective"

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "objective_id": self.objective_id,
            "title": self.title,
            "kind": self.kind,
            "departments": list(self.departments),
            "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "summary": self.summary,
            "status": self.status,
            "previous_status": self.previous_status,
            "dependent_departments": sorted(self.dependent_departments),
            "details": self.details,
            "settled": self.settled,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notice:
        return cls(
            event_id=data["event_id"], event_type=data["event_type"],
            objective_id=data["objective_id"], title=data["title"], kind=data["kind"],
            departments=tuple(data["departments"]),
            occurred_at=datetime.fromisoformat(data["occurred_at"].replace("Z", "+00:00")),
            summary=data["summary"], status=data.get("status"),
            previous_status=data.get("previous_status"),
            dependent_departments=frozenset(data.get("dependent_departments", ())),
            details=dict(data.get("details") or {}),
            settled=bool(data.get("settled", False)),
        )
