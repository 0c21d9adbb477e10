"""The events of ``okr.goals.v1`` as typed values: the one decoder both consumers use.

:func:`decode_goal_event` turns a parsed CloudEvent into a :class:`GoalEvent` or raises
:class:`~shared.messaging.consumer.UnprocessableEvent` (the consumer dead-letters it at
once, with the reason). It reads every field the JSON Schemas under ``schemas/`` require,
with their types, bounds and enumerations; a test holds the two equal. ``data`` is the
item's full state after the change (for a deletion or removal, its last state), so a
consumer never calls back.

Only the goals service writes this topic: an event whose ``source`` is not
:data:`~shared.contract.GOALS_SOURCE` is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from shared.cloudevents import CloudEvent
from shared.contract import EventType, Topic
from shared.contract.reading import Fields, event_type_on
from shared.messaging.consumer import UnprocessableEvent

OBJECTIVE_KINDS = frozenset({"department", "collective"})
OBJECTIVE_STATUSES = frozenset({"active", "archived"})
MEASURES = frozenset({"increase", "decrease", "boolean"})
AGGREGATIONS = frozenset({"check_ins", "sum"})
ITEM_TYPES = frozenset({"objective", "key_result"})
CHECK_IN_SOURCES = frozenset({"person", "system"})

KEY_LENGTH = 40  # department and cycle keys
NAME_LENGTH = 100  # owners, authors, names of departments and cycles
TITLE_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Department:
    key: str
    name: str
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Cycle:
    key: str
    name: str
    starts_on: date
    ends_on: date
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Objective:
    """``kind`` is ``department`` (one owning department) or ``collective`` (two or more)."""

    id: str
    version: int
    cycle: str
    kind: str
    departments: tuple[str, ...]
    owner: str
    title: str
    description: str
    status: str  # active | archived
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class KeyResult:
    """``current`` is the latest checked-in value (``start`` before the first check-in)."""

    id: str
    version: int
    objective_id: str
    title: str
    measure: str  # increase | decrease | boolean (from 0 to 1)
    start: float
    target: float
    unit: str
    weight: float
    aggregation: str  # check_ins | sum (of the key results contributing to it)
    current: float
    confidence: float | None
    last_checkin_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CheckIn:
    id: str
    key_result_id: str
    value: float
    confidence: float | None
    note: str
    author: str
    source: str  # person | system
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Contribution:
    """A roll-up edge; ``child_type`` and ``parent_type`` are ``objective`` or ``key_result``."""

    id: str
    version: int
    child_type: str
    child_id: str
    parent_type: str
    parent_id: str
    weight: float
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Link:
    """A dependency between departments' items; ``kind`` is read as any short text."""

    id: str
    version: int
    kind: str
    from_type: str
    from_id: str
    from_department: str
    to_type: str
    to_id: str
    to_department: str
    note: str
    created_by: str
    created_at: datetime


GoalItem = Department | Cycle | Objective | KeyResult | Contribution | Link

REMOVALS = frozenset({EventType.OBJECTIVE_DELETED, EventType.KEY_RESULT_DELETED,
                      EventType.CONTRIBUTION_REMOVED, EventType.LINK_REMOVED})
"""Event types whose ``data`` is the last state of an item that is gone."""

CREATIONS = frozenset({EventType.DEPARTMENT_CREATED, EventType.CYCLE_CREATED,
                       EventType.OBJECTIVE_CREATED, EventType.KEY_RESULT_CREATED,
                       EventType.CONTRIBUTION_ADDED, EventType.LINK_CREATED})
"""Event types of a new item: the goals service writes them at version 1."""


@dataclass(frozen=True, slots=True)
class GoalEvent:
    """One event of ``okr.goals.v1``: its envelope and the item it carries."""

    id: str
    type: EventType
    time: datetime
    item: GoalItem
    check_in: CheckIn | None = None  # okr.key_result.checked_in only

    @property
    def removes(self) -> bool:
        return self.type in REMOVALS

    @property
    def key_result(self) -> KeyResult | None:
        return self.item if isinstance(self.item, KeyResult) else None


def decode_goal_event(event: CloudEvent) -> GoalEvent:
    """The typed event; :class:`UnprocessableEvent` if it is not one the goals service
    could have written (another source, another topic's type, data outside the contract)."""
    event_type = event_type_on(event, Topic.GOALS)
    data = Fields(event.data)
    if event_type is EventType.KEY_RESULT_CHECKED_IN:
        key_result = _key_result(data.object("key_result"))
        check_in = _check_in(data.object("check_in"))
        if check_in.key_result_id != key_result.id:
            raise UnprocessableEvent("data.check_in.key_result_id is not data.key_result.id")
        return GoalEvent(event.id, event_type, event.time, key_result, check_in)
    return GoalEvent(event.id, event_type, event.time, _READERS[event_type](data))


def _department(data: Fields) -> Department:
    return Department(key=data.text("key", KEY_LENGTH), name=data.text("name", NAME_LENGTH),
                      version=data.version(), created_at=data.moment("created_at"),
                      updated_at=data.moment("updated_at"))


def _cycle(data: Fields) -> Cycle:
    cycle = Cycle(key=data.text("key", KEY_LENGTH), name=data.text("name", NAME_LENGTH),
                  starts_on=data.day("starts_on"), ends_on=data.day("ends_on"),
                  version=data.version(), created_at=data.moment("created_at"),
                  updated_at=data.moment("updated_at"))
    if cycle.ends_on < cycle.starts_on:
        raise UnprocessableEvent("data.ends_on is before data.starts_on")
    return cycle


def _objective(data: Fields) -> Objective:
    objective = Objective(
        id=data.identifier("id"), version=data.version(), cycle=data.text("cycle", KEY_LENGTH),
        kind=data.choice("kind", OBJECTIVE_KINDS),
        departments=data.texts("departments", KEY_LENGTH, unique=True),
        owner=data.text("owner", NAME_LENGTH), title=data.text("title", TITLE_LENGTH),
        description=data.text("description", 4000, 0),
        status=data.choice("status", OBJECTIVE_STATUSES),
        created_at=data.moment("created_at"), updated_at=data.moment("updated_at"))
    if (objective.kind == "department") != (len(objective.departments) == 1):
        raise UnprocessableEvent("data.departments: a department objective has exactly one, "
                                 "a collective one two or more")
    return objective


def _key_result(data: Fields) -> KeyResult:
    key_result = KeyResult(
        id=data.identifier("id"), version=data.version(),
        objective_id=data.identifier("objective_id"), title=data.text("title", TITLE_LENGTH),
        measure=data.choice("measure", MEASURES), start=data.number("start"),
        target=data.number("target"), unit=data.text("unit", 20, 0),
        weight=data.number("weight", minimum=0), aggregation=data.choice("aggregation",
                                                                          AGGREGATIONS),
        current=data.number("current"), confidence=data.optional_number("confidence", 0, 1),
        last_checkin_at=data.optional_moment("last_checkin_at"),
        created_at=data.moment("created_at"), updated_at=data.moment("updated_at"))
    if key_result.measure == "boolean" and (
            (key_result.start, key_result.target, key_result.aggregation) != (0, 1, "check_ins")):
        raise UnprocessableEvent("data: a boolean key result runs from 0 to 1 on check-ins")
    return key_result


def _check_in(data: Fields) -> CheckIn:
    return CheckIn(
        id=data.identifier("id"), key_result_id=data.identifier("key_result_id"),
        value=data.number("value"), confidence=data.optional_number("confidence", 0, 1),
        note=data.text("note", 2000, 0), author=data.text("author", NAME_LENGTH),
        source=data.choice("source", CHECK_IN_SOURCES), created_at=data.moment("created_at"))


def _contribution(data: Fields) -> Contribution:
    contribution = Contribution(
        id=data.identifier("id"), version=data.version(),
        child_type=data.choice("child_type", ITEM_TYPES), child_id=data.identifier("child_id"),
        parent_type=data.choice("parent_type", ITEM_TYPES),
        parent_id=data.identifier("parent_id"), weight=data.number("weight", minimum=0),
        created_by=data.text("created_by", NAME_LENGTH), created_at=data.moment("created_at"))
    if contribution.child_type == "objective" and contribution.parent_type != "objective":
        raise UnprocessableEvent("data: an objective contributes to objectives only")
    return contribution


def _link(data: Fields) -> Link:
    return Link(
        id=data.identifier("id"), version=data.version(), kind=data.text("kind", KEY_LENGTH),
        from_type=data.choice("from_type", ITEM_TYPES), from_id=data.identifier("from_id"),
        from_department=data.text("from_department", KEY_LENGTH),
        to_type=data.choice("to_type", ITEM_TYPES), to_id=data.identifier("to_id"),
        to_department=data.text("to_department", KEY_LENGTH), note=data.text("note", 1000, 0),
        created_by=data.text("created_by", NAME_LENGTH), created_at=data.moment("created_at"))


_READERS: dict[EventType, Callable[[Fields], GoalItem]] = {
    EventType.DEPARTMENT_CREATED: _department,
    EventType.DEPARTMENT_UPDATED: _department,
    EventType.CYCLE_CREATED: _cycle,
    EventType.CYCLE_UPDATED: _cycle,
    EventType.OBJECTIVE_CREATED: _objective,
    EventType.OBJECTIVE_UPDATED: _objective,
    EventType.OBJECTIVE_DELETED: _objective,
    EventType.KEY_RESULT_CREATED: _key_result,
    EventType.KEY_RESULT_UPDATED: _key_result,
    EventType.KEY_RESULT_DELETED: _key_result,
    EventType.CONTRIBUTION_ADDED: _contribution,
    EventType.CONTRIBUTION_REMOVED: _contribution,
    EventType.LINK_CREATED: _link,
    EventType.LINK_REMOVED: _link,
}

