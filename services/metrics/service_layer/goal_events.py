"""Goal events as changes to the read model: decoded in full before anything is applied.

Decoding first means a malformed event is refused (and dead-lettered) before the graph in
memory was touched. ``data`` is the item's full state (see the goals JSON Schemas).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.metrics.domain.goal_items import (
    Aggregation,
    ContributionState,
    CycleState,
    InvalidGoalItem,
    ItemType,
    KeyResultState,
    Measure,
    ObjectiveKind,
    ObjectiveState,
)
from shared.cloudevents import CloudEvent
from shared.contract import EventType
from shared.messaging.consumer import UnprocessableEvent


@dataclass(frozen=True, slots=True)
class LinkState:
    id: str
    version: int
    kind: str
    from_type: str
    from_id: str
    from_department: str
    to_type: str
    to_id: str
    to_department: str


@dataclass(frozen=True, slots=True)
class Removal:
    """An item removed at ``version``: ``item_type`` is objective, key_result, contribution
    or link."""

    item_type: str
    item_id: str
    version: int


GoalChange = (ObjectiveState | KeyResultState | ContributionState | CycleState | LinkState
              | Removal | None)


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    event: CloudEvent
    change: GoalChange  # None: an event the read model does not need (departments)
    is_check_in: bool = False


def decode(event: CloudEvent) -> DecodedEvent:
    """The change an event carries; raise :class:`UnprocessableEvent` if it breaks the contract."""
    try:
        kind = EventType(event.type)
        return DecodedEvent(event, _change_of(kind, event.data),
                            kind is EventType.KEY_RESULT_CHECKED_IN)
    except (KeyError, TypeError, ValueError, InvalidGoalItem) as error:
        raise UnprocessableEvent(f"{event.type}: {type(error).__name__}: {error}") from None


def _change_of(kind: EventType, data: dict[str, Any]) -> GoalChange:
    match kind:
        case EventType.OBJECTIVE_CREATED | EventType.OBJECTIVE_UPDATED:
            return objective_state(data)
        case EventType.KEY_RESULT_CREATED | EventType.KEY_RESULT_UPDATED:
            return key_result_state(data)
        case EventType.KEY_RESULT_CHECKED_IN:
            return key_result_state(data["key_result"])
        case EventType.CONTRIBUTION_ADDED:
            return contribution_state(data)
        case EventType.LINK_CREATED:
            return link_state(data)
        case EventType.CYCLE_CREATED | EventType.CYCLE_UPDATED:
            return CycleState(_text(data, "key"), _version(data),
                              date.fromisoformat(data["starts_on"]),
                              date.fromisoformat(data["ends_on"]))
        case (EventType.OBJECTIVE_DELETED | EventType.KEY_RESULT_DELETED
              | EventType.CONTRIBUTION_REMOVED | EventType.LINK_REMOVED):
            return Removal(kind.value.split(".")[1], _text(data, "id"), _version(data))
        case EventType.DEPARTMENT_CREATED | EventType.DEPARTMENT_UPDATED:
            return None
    raise ValueError(f"not an event of okr.goals.v1: {kind.value}")


def objective_state(data: dict[str, Any]) -> ObjectiveState:
    departments = data["departments"]
    if not isinstance(departments, list) or not departments or not all(
            isinstance(d, str) and d for d in departments):
        raise ValueError("departments must be a non-empty list of keys")
    return ObjectiveState(_text(data, "id"), _version(data), _text(data, "cycle"),
                          ObjectiveKind(data["kind"]), tuple(sorted(departments)),
                          title=str(data.get("title", "")),
                          archived=data.get("status") == "archived")


def key_result_state(data: dict[str, Any]) -> KeyResultState:
    checked_at = data.get("last_checkin_at")
    current = data.get("current")
    confidence = data.get("confidence")
    return KeyResultState(
        _text(data, "id"), _version(data), _text(data, "objective_id"), Measure(data["measure"]),
        _number(data["start"]), _number(data["target"]), weight=_number(data["weight"]),
        aggregation=Aggregation(data["aggregation"]),
        current=None if current is None else _number(current),
        confidence=None if confidence is None else _number(confidence),
        last_checkin_at=None if checked_at is None else _posix(checked_at),
        title=str(data.get("title", "")), unit=str(data.get("unit", "")))


def contribution_state(data: dict[str, Any]) -> ContributionState:
    return ContributionState(_text(data, "id"), _version(data), ItemType(data["child_type"]),
                             _text(data, "child_id"), ItemType(data["parent_type"]),
                             _text(data, "parent_id"), _number(data["weight"]))


def link_state(data: dict[str, Any]) -> LinkState:
    return LinkState(_text(data, "id"), _version(data), _text(data, "kind"),
                     ItemType(data["from_type"]).value, _text(data, "from_id"),
                     _text(data, "from_department"), ItemType(data["to_type"]).value,
                     _text(data, "to_id"), _text(data, "to_department"))


def _text(data: dict[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValueError(f"{name} must be a string of 1 to 64 characters")
    return value


def _version(data: dict[str, Any]) -> int:
    value = data["version"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("version must be a positive integer")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _posix(text: Any) -> float:
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a timestamp needs a time zone")
    return moment.timestamp()
