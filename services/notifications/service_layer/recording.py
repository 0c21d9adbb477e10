"""A consumed event: recorded in the goal read model, and the notice it makes (if any).

Events are decoded by the shared typed decoders (:mod:`shared.contract.goal_events`,
:mod:`shared.contract.rollup_events`): one that breaks the contract, or that does not come
from its topic's producer, raises :class:`~shared.messaging.consumer.UnprocessableEvent`
before the read model is touched, and the consumer dead-letters it at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.notifications.domain.notices import NOTIFIABLE_EVENT_TYPES, Notice
from services.notifications.service_layer.unit_of_work import GoalReadModel
from shared.cloudevents import CloudEvent
from shared.contract import TOPIC_OF, EventType, Topic
from shared.contract.goal_events import (
    Contribution,
    GoalEvent,
    KeyResult,
    Link,
    Objective,
    decode_goal_event,
)
from shared.contract.rollup_events import RollupEvent, decode_rollup_event
from shared.messaging.consumer import UnprocessableEvent


class CachedGoals:
    """The read model for one batch: each objective and its dependent departments read
    once, not once per event (the handler's hot path); every write goes through at once.

    A roll-up event writes the whole objective row: that write waits in memory and all of
    them go in one statement (:meth:`flush`, before the unit commits; nothing else in the
    batch reads the objectives' table behind this cache), and the read after it costs
    nothing. The dependent departments of a batch's objectives are read in one round
    trip (:meth:`prefetch`); a link or key result written forgets them all.
    """

    def __init__(self, goals: GoalReadModel) -> None:
        self.goals = goals
        self._objectives: dict[str, dict[str, Any] | None] = {}
        self._dependents: dict[str, frozenset[str]] = {}
        self._pending: dict[str, dict[str, Any]] = {}

    def prefetch(self, objective_ids: Iterable[str]) -> None:
        """Read the dependent departments of these objectives at once."""
        self._dependents.update(self.goals.dependent_departments_many(
            [o for o in objective_ids if o not in self._dependents]))

    def flush(self) -> None:
        """Write the objectives waiting in memory."""
        if self._pending:
            self.goals.put_objectives(list(self._pending.values()))
            self._pending.clear()

    def put_objective(self, objective_id: str, *, title: str, kind: str,
                      departments: list[str], cycle: str, status: str | None = None) -> None:
        known = self._objectives.get(objective_id)
        if status is None and known is not None:
            status = known.get("status")
        if status is None:  # the stored status stays: write now, read it when needed
            self.flush()
            self.goals.put_objective(objective_id, title=title, kind=kind,
                                     departments=departments, cycle=cycle)
            self._objectives.pop(objective_id, None)
            return
        row = {"id": objective_id, "title": title, "kind": kind, "cycle": cycle,
               "departments": sorted(departments), "status": status}
        self._objectives[objective_id] = row
        self._pending[objective_id] = row

    def put_objectives(self, objectives: list[dict[str, Any]]) -> None:
        for row in objectives:
            self.put_objective(row["id"], title=row["title"], kind=row["kind"],
                               departments=list(row["departments"]), cycle=row["cycle"],
                               status=row["status"])

    def remove_objective(self, objective_id: str) -> None:
        self.flush()
        self.goals.remove_objective(objective_id)
        self._objectives[objective_id] = None
        self._dependents.clear()

    def objective(self, objective_id: str) -> dict[str, Any] | None:
        if objective_id not in self._objectives:
            self._objectives[objective_id] = self.goals.objective(objective_id)
        return self._objectives[objective_id]

    def put_key_result(self, key_result_id: str, objective_id: str, title: str) -> None:
        self.goals.put_key_result(key_result_id, objective_id, title)
        self._dependents.clear()

    def remove_key_result(self, key_result_id: str) -> None:
        self.goals.remove_key_result(key_result_id)
        self._dependents.clear()

    def objective_of_key_result(self, key_result_id: str) -> str | None:
        return self.goals.objective_of_key_result(key_result_id)

    def put_link(self, link_id: str, from_department: str, to_type: str, to_id: str) -> None:
        self.goals.put_link(link_id, from_department, to_type, to_id)
        self._dependents.clear()

    def remove_link(self, link_id: str) -> None:
        self.goals.remove_link(link_id)
        self._dependents.clear()

    def knows_department(self, department: str) -> bool:
        self.flush()  # the objectives still pending are heard of too
        return self.goals.knows_department(department)

    def dependent_departments_many(self, objective_ids: Iterable[str]
                                   ) -> dict[str, frozenset[str]]:
        self.prefetch(objective_ids)
        return {o: self._dependents[o] for o in objective_ids}

    def dependent_departments(self, objective_id: str) -> frozenset[str]:
        found = self._dependents.get(objective_id)
        if found is None:
            found = self._dependents[objective_id] = self.goals.dependent_departments(
                objective_id)
        return found


def record_event(event: CloudEvent, goals: GoalReadModel) -> Notice | None:
    """Record the event in the read model; return what it means to subscribers, or None."""
    return record_decoded(decode(event), goals)


def record_decoded(decoded: GoalEvent | RollupEvent, goals: GoalReadModel) -> Notice | None:
    """:func:`record_event` of an event already decoded."""
    if isinstance(decoded, RollupEvent):
        objective_id: str | None = _record_rollup(decoded, goals)
    else:
        objective_id = _record_goal_change(decoded, goals)
    if objective_id is None or decoded.type not in NOTIFIABLE_EVENT_TYPES:
        return None
    objective = goals.objective(objective_id) or {}
    title = objective.get("title") or _own_title(decoded)
    rollup = decoded.change if isinstance(decoded, RollupEvent) else None
    return Notice(
        event_id=decoded.id, event_type=decoded.type.value, objective_id=objective_id,
        title=title, kind=objective.get("kind", ""),
        departments=tuple(objective.get("departments", ())), occurred_at=decoded.time,
        summary=_summary(decoded, title),
        status=None if rollup is None else rollup.status,
        previous_status=None if rollup is None else rollup.previous_status,
        dependent_departments=goals.dependent_departments(objective_id),
        details=_details(decoded),
    )


def decode(event: CloudEvent) -> GoalEvent | RollupEvent:
    """The typed event of either topic this service consumes."""
    try:
        topic = TOPIC_OF[EventType(event.type)]
    except ValueError:
        raise UnprocessableEvent(f"unknown event type {event.type!r}") from None
    if topic is Topic.ROLLUPS:
        return decode_rollup_event(event)
    return decode_goal_event(event)  # refuses the types of other topics


def _record_rollup(event: RollupEvent, goals: GoalReadModel) -> str:
    change = event.change
    goals.put_objective(change.objective_id, title=change.title, kind=change.kind,
                        departments=list(change.departments), cycle=change.cycle,
                        status=change.status)
    return change.objective_id


def _record_goal_change(event: GoalEvent, goals: GoalReadModel) -> str | None:
    """Keep what notices need; return the id of the objective the event concerns."""
    item = event.item
    if isinstance(item, Objective):
        if event.removes:
            goals.remove_objective(item.id)
            return None
        goals.put_objective(item.id, title=item.title, kind=item.kind,
                            departments=list(item.departments), cycle=item.cycle)
        return item.id
    if isinstance(item, KeyResult):
        if event.removes:
            goals.remove_key_result(item.id)
        else:
            goals.put_key_result(item.id, item.objective_id, item.title)
        return item.objective_id
    if isinstance(item, Link):
        if event.removes:
            goals.remove_link(item.id)
        else:
            goals.put_link(item.id, item.from_department, item.to_type, item.to_id)
        return _objective_of(item.to_type, item.to_id, goals)
    if isinstance(item, Contribution):
        return _objective_of(item.parent_type, item.parent_id, goals)
    return None  # departments and cycles: nothing to notify


def _objective_of(item_type: str, item_id: str, goals: GoalReadModel) -> str | None:
    if item_type == "objective":
        return item_id
    return goals.objective_of_key_result(item_id)


def _own_title(event: GoalEvent | RollupEvent) -> str:
    if isinstance(event, RollupEvent):
        return event.change.title
    if event.check_in is not None:
        return ""  # a check-in names its key result in the summary instead
    item = event.item
    return item.title if isinstance(item, Objective | KeyResult) else ""


def _summary(event: GoalEvent | RollupEvent, title: str) -> str:
    name = f"'{title}'" if title else "an objective"
    if isinstance(event, RollupEvent):
        change = event.change
        if event.is_status_change:
            return f"{name} is now {change.status} (was {change.previous_status or 'no status'})"
        shown = "no data" if change.progress is None else f"{change.progress:.0%}"
        return f"{name}: progress {shown}, {change.status}"
    key_result, check_in = event.key_result, event.check_in
    if key_result is not None and check_in is not None:
        return (f"check-in on '{key_result.title}' of {name}: {check_in.value:g}"
                f"{' ' + key_result.unit if key_result.unit else ''} by {check_in.author}")
    thing, _, verb = event.type.value.removeprefix("okr.").partition(".")
    return f"{thing.replace('_', ' ')} {verb} on {name}"


def _details(event: GoalEvent | RollupEvent) -> dict[str, Any]:
    if isinstance(event, RollupEvent):
        change = event.change
        reached = change.forecast_reached_on
        return {"cycle": change.cycle, "progress": change.progress,
                "expected_progress": change.expected_progress,
                "attainment": change.attainment, "confidence": change.confidence,
                "cause_event_id": change.cause_event_id, "forecast": change.forecast,
                "forecast_reached_on": None if reached is None else reached.isoformat(),
                "why": change.why}
    if event.key_result is not None and event.check_in is not None:
        return {"key_result_id": event.key_result.id, "value": event.check_in.value,
                "confidence": event.check_in.confidence}
    return {}
