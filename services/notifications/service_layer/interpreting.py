"""From a consumed event to the read model's change and the notice it makes (if any)."""

from __future__ import annotations

from typing import Any

from services.notifications.adapters.repositories import GoalReadModel
from services.notifications.domain.notices import NOTIFIABLE_EVENT_TYPES, Notice
from shared.cloudevents import CloudEvent
from shared.contract import EventType as E


def interpret(event: CloudEvent, goals: GoalReadModel) -> Notice | None:
    """Apply the event to the read model; return what it means to subscribers, or None."""
    data = event.data
    objective_id = _update_read_model(event.type, data, goals)
    if objective_id is None or event.type not in NOTIFIABLE_EVENT_TYPES:
        return None
    objective = goals.objective(objective_id) or {}
    title = objective.get("title") or data.get("title") or ""
    status = data.get("status") if event.type in _ROLLUP_TYPES else None
    return Notice(
        event_id=event.id, event_type=event.type, objective_id=objective_id, title=title,
        kind=objective.get("kind", ""), departments=tuple(objective.get("departments", ())),
        occurred_at=event.time, summary=_summary(event.type, data, title),
        status=status, previous_status=data.get("previous_status"),
        dependent_departments=goals.dependent_departments(objective_id),
        details=_details(event.type, data),
    )


_ROLLUP_TYPES = {E.ROLLUP_CHANGED.value, E.OBJECTIVE_STATUS_CHANGED.value}


def _update_read_model(event_type: str, data: dict[str, Any],
                       goals: GoalReadModel) -> str | None:
    """Keep what notices need; return the id of the objective the event concerns."""
    if event_type in {E.OBJECTIVE_CREATED, E.OBJECTIVE_UPDATED}:
        goals.put_objective(data["id"], title=data["title"], kind=data["kind"],
                            departments=data["departments"], cycle=data["cycle"])
        return str(data["id"])
    if event_type == E.OBJECTIVE_DELETED:
        goals.remove_objective(data["id"])
        return None
    if event_type in _ROLLUP_TYPES:
        goals.put_objective(data["objective_id"], title=data["title"], kind=data["kind"],
                            departments=data["departments"], cycle=data["cycle"],
                            status=data.get("status"))
        return str(data["objective_id"])
    if event_type in {E.KEY_RESULT_CREATED, E.KEY_RESULT_UPDATED}:
        goals.put_key_result(data["id"], data["objective_id"], data["title"])
        return str(data["objective_id"])
    if event_type == E.KEY_RESULT_DELETED:
        goals.remove_key_result(data["id"])
        return str(data["objective_id"])
    if event_type == E.KEY_RESULT_CHECKED_IN:
        key_result = data["key_result"]
        goals.put_key_result(key_result["id"], key_result["objective_id"], key_result["title"])
        return str(key_result["objective_id"])
    if event_type == E.LINK_CREATED:
        goals.put_link(data["id"], data["from_department"], data["to_type"], data["to_id"])
        return _objective_of(data["to_type"], data["to_id"], goals)
    if event_type == E.LINK_REMOVED:
        goals.remove_link(data["id"])
        return _objective_of(data["to_type"], data["to_id"], goals)
    if event_type in {E.CONTRIBUTION_ADDED, E.CONTRIBUTION_REMOVED}:
        return _objective_of(data.get("parent_type", ""), data.get("parent_id", ""), goals)
    return None  # departments and cycles: nothing to notify


def _objective_of(item_type: str, item_id: str, goals: GoalReadModel) -> str | None:
    if item_type == "objective":
        return item_id
    if item_type == "key_result":
        return goals.objective_of_key_result(item_id)
    return None


def _summary(event_type: str, data: dict[str, Any], title: str) -> str:
    name = f"'{title}'" if title else "an objective"
    if event_type == E.OBJECTIVE_STATUS_CHANGED:
        previous = data.get("previous_status") or "no status"
        return f"{name} is now {data['status']} (was {previous})"
    if event_type == E.ROLLUP_CHANGED:
        progress = data.get("progress")
        shown = "no data" if progress is None else f"{progress:.0%}"
        return f"{name}: progress {shown}, {data.get('status')}"
    if event_type == E.KEY_RESULT_CHECKED_IN:
        key_result, check_in = data["key_result"], data["check_in"]
        return (f"check-in on '{key_result['title']}' of {name}: {check_in['value']:g}"
                f"{' ' + key_result['unit'] if key_result.get('unit') else ''}"
                f" by {check_in['author']}")
    thing, _, verb = event_type.removeprefix("okr.").partition(".")
    return f"{thing.replace('_', ' ')} {verb} on {name}"


def _details(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    if event_type in _ROLLUP_TYPES:
        return {k: data.get(k) for k in ("cycle", "progress", "expected_progress",
                                         "confidence", "cause_event_id")}
    if event_type == E.KEY_RESULT_CHECKED_IN:
        return {"key_result_id": data["key_result"]["id"],
                "value": data["check_in"]["value"],
                "confidence": data["check_in"].get("confidence")}
    return {}
