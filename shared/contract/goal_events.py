"""The events of ``okr.goals.v1`` as typed values: the one decoder both consumers use.

:func:`decode_goal_event` turns a parsed CloudEvent into a :class:`GoalEvent` or raises
:class:`~shared.messaging.consumer.UnprocessableEvent` (the consumer dead-letters it at
once, with the reason). It reads every field the JSON Schemas under ``schemas/`` require,
with their types, bounds and enumerations; a test holds the two equal. ``data`` is the
item's full state after the change (for a deletion or removal, its last state), so a
consumer never calls back.

Only the goals service writes this topic: an event whose ``source`` is not
:data:`~shared.contract.GOALS_SOURCE` is refused.

The typed values are named tuples: immutable like frozen dataclasses, and five times
cheaper to build, which counts on the consumers' hot path (one or two per event).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, NamedTuple

from shared.cloudevents import CloudEvent
from shared.contract import EventType, Topic
from shared.contract.reading import (
    Field,
    Reader,
    choice,
    day,
    event_type_on,
    identifier,
    moment,
    number,
    reader,
    text,
    texts,
    version,
)
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


class Department(NamedTuple):
    key: str
    name: str
    version: int
    created_at: datetime
    updated_at: datetime


class Cycle(NamedTuple):
    key: str
    name: str
    starts_on: date
    ends_on: date
    version: int
    created_at: datetime
    updated_at: datetime


class Objective(NamedTuple):
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


class KeyResult(NamedTuple):
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


class CheckIn(NamedTuple):
    id: str
    key_result_id: str
    value: float
    confidence: float | None
    note: str
    author: str
    source: str  # person | system
    created_at: datetime
    observed_at: datetime  # optional in the data: when absent or null, ``created_at``


class Contribution(NamedTuple):
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


class Link(NamedTuple):
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


class GoalEvent(NamedTuple):
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
    data = event.data
    checked = event.text_checked  # parse_event's events: no NUL or lone surrogate anywhere
    if event_type is EventType.KEY_RESULT_CHECKED_IN:
        if type(data) is not dict:
            raise UnprocessableEvent("data must be a JSON object")
        key_result = _read_key_result(data.get("key_result"), "data.key_result", checked)
        _key_result_rule(key_result, "data.key_result")
        check_in = _read_check_in(data.get("check_in"), "data.check_in", checked)
        if check_in.key_result_id != key_result.id:
            raise UnprocessableEvent("data.check_in.key_result_id is not data.key_result.id")
        return _new_goal_event(GoalEvent, (event.id, event_type, event.time, key_result,
                                           check_in))
    read_item, rule = _ITEMS[event_type]
    item = read_item(data, "data", checked)
    if rule is not None:
        rule(item, "data")
    return _new_goal_event(GoalEvent, (event.id, event_type, event.time, item, None))


_new_goal_event = tuple.__new__  # GoalEvent(...) without its __new__'s Python frame


# The fields of each item, in the order of its class's fields, as its JSON Schema requires.

DEPARTMENT_FIELDS = (text("key", KEY_LENGTH), text("name", NAME_LENGTH), version(),
                     moment("created_at"), moment("updated_at"))
CYCLE_FIELDS = (text("key", KEY_LENGTH), text("name", NAME_LENGTH), day("starts_on"),
                day("ends_on"), version(), moment("created_at"), moment("updated_at"))
OBJECTIVE_FIELDS = (
    identifier("id"), version(), text("cycle", KEY_LENGTH), choice("kind", OBJECTIVE_KINDS),
    texts("departments", KEY_LENGTH, unique=True), text("owner", NAME_LENGTH),
    text("title", TITLE_LENGTH), text("description", 4000, 0),
    choice("status", OBJECTIVE_STATUSES), moment("created_at"), moment("updated_at"))
KEY_RESULT_FIELDS = (
    identifier("id"), version(), identifier("objective_id"), text("title", TITLE_LENGTH),
    choice("measure", MEASURES), number("start"), number("target"), text("unit", 20, 0),
    number("weight", minimum=0), choice("aggregation", AGGREGATIONS), number("current"),
    number("confidence", 0, 1, optional=True), moment("last_checkin_at", optional=True),
    moment("created_at"), moment("updated_at"))
CHECK_IN_FIELDS = (
    identifier("id"), identifier("key_result_id"), number("value"),
    number("confidence", 0, 1, optional=True), text("note", 2000, 0),
    text("author", NAME_LENGTH), choice("source", CHECK_IN_SOURCES), moment("created_at"))
OBSERVED_AT = (moment("observed_at"),)
"""The check-in's optional field (the value is the last of ``CHECK_IN_FIELDS`` when absent)."""
OPTIONAL_FIELDS: dict[type, tuple[str, ...]] = {CheckIn: ("observed_at",)}
"""Fields of the typed values that the JSON Schemas leave optional."""
CONTRIBUTION_FIELDS = (
    identifier("id"), version(), choice("child_type", ITEM_TYPES), identifier("child_id"),
    choice("parent_type", ITEM_TYPES), identifier("parent_id"), number("weight", minimum=0),
    text("created_by", NAME_LENGTH), moment("created_at"))
LINK_FIELDS = (
    identifier("id"), version(), text("kind", KEY_LENGTH), choice("from_type", ITEM_TYPES),
    identifier("from_id"), text("from_department", KEY_LENGTH), choice("to_type", ITEM_TYPES),
    identifier("to_id"), text("to_department", KEY_LENGTH), text("note", 1000, 0),
    text("created_by", NAME_LENGTH), moment("created_at"))

FIELDS_OF: dict[type, tuple[Field, ...]] = {
    Department: DEPARTMENT_FIELDS, Cycle: CYCLE_FIELDS, Objective: OBJECTIVE_FIELDS,
    KeyResult: KEY_RESULT_FIELDS, CheckIn: CHECK_IN_FIELDS, Contribution: CONTRIBUTION_FIELDS,
    Link: LINK_FIELDS,
}


# Rules across fields that the JSON Schemas state with if/then/else (and the cycle's order).

def _cycle_rule(cycle: Cycle, where: str) -> None:
    if cycle.ends_on < cycle.starts_on:
        raise UnprocessableEvent(f"{where}.ends_on is before {where}.starts_on")


def _objective_rule(objective: Objective, where: str) -> None:
    if (objective.kind == "department") != (len(objective.departments) == 1):
        raise UnprocessableEvent(f"{where}.departments: a department objective has exactly "
                                 "one, a collective one two or more")


def _key_result_rule(key_result: KeyResult, where: str) -> None:
    if key_result.measure == "boolean" and (
            (key_result.start, key_result.target, key_result.aggregation) != (0, 1, "check_ins")):
        raise UnprocessableEvent(f"{where}: a boolean key result runs from 0 to 1 on check-ins")


def _contribution_rule(contribution: Contribution, where: str) -> None:
    if contribution.child_type == "objective" and contribution.parent_type != "objective":
        raise UnprocessableEvent(f"{where}: an objective contributes to objectives only")


# Each item's reader, compiled once from its fields (the consumers' hot path).
_read_department = reader(DEPARTMENT_FIELDS, Department)
_read_cycle = reader(CYCLE_FIELDS, Cycle)
_read_objective = reader(OBJECTIVE_FIELDS, Objective)
_read_key_result = reader(KEY_RESULT_FIELDS, KeyResult)
_read_check_in_fields = reader(CHECK_IN_FIELDS)
_read_observed_at = reader(OBSERVED_AT)


def _read_check_in(value: object, where: str, text_checked: bool = False) -> CheckIn:
    values = _read_check_in_fields(value, where, text_checked)
    observed = value.get("observed_at")  # type: ignore[attr-defined]  # a dict: read it
    values.append(values[-1] if observed is None else _read_observed_at(value, where)[0])
    return _new_goal_event(CheckIn, values)  # CheckIn(*values) without a Python frame


_read_contribution = reader(CONTRIBUTION_FIELDS, Contribution)
_read_link = reader(LINK_FIELDS, Link)

_ITEMS: dict[EventType, tuple[Reader[Any], Callable[[Any, str], None] | None]] = {
    EventType.DEPARTMENT_CREATED: (_read_department, None),
    EventType.DEPARTMENT_UPDATED: (_read_department, None),
    EventType.CYCLE_CREATED: (_read_cycle, _cycle_rule),
    EventType.CYCLE_UPDATED: (_read_cycle, _cycle_rule),
    EventType.OBJECTIVE_CREATED: (_read_objective, _objective_rule),
    EventType.OBJECTIVE_UPDATED: (_read_objective, _objective_rule),
    EventType.OBJECTIVE_DELETED: (_read_objective, _objective_rule),
    EventType.KEY_RESULT_CREATED: (_read_key_result, _key_result_rule),
    EventType.KEY_RESULT_UPDATED: (_read_key_result, _key_result_rule),
    EventType.KEY_RESULT_DELETED: (_read_key_result, _key_result_rule),
    EventType.CONTRIBUTION_ADDED: (_read_contribution, _contribution_rule),
    EventType.CONTRIBUTION_REMOVED: (_read_contribution, _contribution_rule),
    EventType.LINK_CREATED: (_read_link, None),
    EventType.LINK_REMOVED: (_read_link, None),
}
