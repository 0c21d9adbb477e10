"""Reading the ``data`` of an untrusted event into typed values, field by field.

Every record on a topic is untrusted bytes: whatever a field holds (another type, nothing,
an integer of hundreds of digits, ``NaN``, a lone surrogate, a megabyte of text), reading
it either returns a value the read models can store or raises
:class:`~shared.messaging.consumer.UnprocessableEvent` naming the field and why, and
nothing else.

A typed event class lists its fields as :class:`Field` specifications in the order of its
dataclass fields; :func:`read` checks a JSON object against them in one pass (the
consumers decode every event, so this is their hot path) and returns the values.

What is checked is what a consumer relies on: the JSON type, presence, finiteness and
bounds of numbers, lengths of text (the schema's ``maxLength``, else :data:`MAX_TEXT`),
enumerations that drive behaviour, dates, and that text can be stored (no lone
surrogates, no NUL). Formats that only identify things (the ``uuid`` format of ids, the
patterns of keys) are the producer's promise and are not checked again: a tolerant reader
keeps working if they widen.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from shared.cloudevents import MAX_ID_LENGTH, CloudEvent
from shared.contract import SOURCE_OF, TOPIC_OF, EventType, Topic
from shared.messaging.consumer import UnprocessableEvent

MAX_TEXT = 1000
"""Length limit of a text field whose schema sets none."""

MAX_ID = MAX_ID_LENGTH  # ids are stored in columns of this length
"""Length limit of an id: the read models' id columns hold 64 characters (uuids take 36)."""

MAX_VERSION = 2**31 - 1
"""The largest version any of our databases can store (a 32-bit integer column)."""

_EVENT_TYPES = {event_type.value: event_type for event_type in EventType}
_LARGEST_INTEGER = int(sys.float_info.max)  # beyond it an integer is no double
_MISSING = object()

TEXT, CHOICE, NUMBER, INTEGER, MOMENT, DAY, TEXTS = (
    "text", "choice", "number", "integer", "moment", "day", "texts")


class Field(NamedTuple):
    """How to read one field: build it with the functions below (:func:`text`, ...)."""

    name: str
    kind: str
    low: float = -math.inf  # least length, or least value
    high: float = math.inf  # greatest length, or greatest value
    options: Collection[str] = ()
    optional: bool = False  # JSON null reads as None
    unique: bool = False  # texts: no item twice


def text(name: str, max_length: int = MAX_TEXT, min_length: int = 1,
         optional: bool = False) -> Field:
    return Field(name, TEXT, min_length, max_length, optional=optional)


def identifier(name: str) -> Field:
    return text(name, MAX_ID)


def choice(name: str, options: Collection[str], optional: bool = False) -> Field:
    return Field(name, CHOICE, options=options, optional=optional)


def number(name: str, minimum: float = -math.inf, maximum: float = math.inf,
           optional: bool = False) -> Field:
    """A finite number (a JSON integer reads as a float)."""
    return Field(name, NUMBER, minimum, maximum, optional=optional)


def version() -> Field:
    return Field("version", INTEGER, 1, MAX_VERSION)


def moment(name: str, optional: bool = False) -> Field:
    """An RFC 3339 date-time with its offset (the contract writes UTC with ``Z``)."""
    return Field(name, MOMENT, optional=optional)


def day(name: str) -> Field:
    return Field(name, DAY)


def texts(name: str, max_length: int, unique: bool = False) -> Field:
    """A non-empty JSON array of non-empty strings, read as a tuple."""
    return Field(name, TEXTS, 1, max_length, unique=unique)


def read(value: object, fields: Sequence[Field], where: str = "data") -> list[Any]:
    """The values of ``fields`` in ``value`` (a JSON object), in order; raise
    :class:`UnprocessableEvent` naming the first field that is missing or wrong."""
    if type(value) is not dict:
        raise UnprocessableEvent(f"{where} must be a JSON object")
    values: list[Any] = []
    append = values.append
    for field in fields:
        name, kind, low, high, options, optional, _ = field
        item = value.get(name, _MISSING)
        if item is None and optional:
            append(None)
            continue
        if kind == TEXT:
            if (type(item) is str and low <= len(item) <= high
                    and "\x00" not in item and (item.isascii() or storable(item))):
                append(item)
                continue
        elif kind == NUMBER:
            if type(item) is int and -_LARGEST_INTEGER <= item <= _LARGEST_INTEGER:
                item = float(item)
            if type(item) is float and item - item == 0.0 and low <= item <= high:  # finite
                append(item)
                continue
        elif kind == CHOICE:
            if type(item) is str and item in options:
                append(item)
                continue
        elif kind == INTEGER:
            if type(item) is int and low <= item <= high:
                append(item)
                continue
        elif kind == MOMENT:
            parsed = _moment(item)
            if parsed is not None:
                append(parsed)
                continue
        elif kind == DAY:
            parsed_day = _day(item)
            if parsed_day is not None:
                append(parsed_day)
                continue
        elif kind == TEXTS:
            items = _texts(item, field)
            if items is not None:
                append(items)
                continue
        raise UnprocessableEvent(f"{where}.{name} {_why(item, field)}")
    return values


def storable(text: str) -> bool:
    """True when a database text column can hold ``text`` (UTF-8 encodable, no NUL)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _moment(item: object) -> datetime | None:
    if type(item) is not str or len(item) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(item)  # takes "Z" for UTC since Python 3.11
    except ValueError:
        return None
    return None if parsed.tzinfo is None else parsed


def _day(item: object) -> date | None:
    if type(item) is not str or len(item) != 10:
        return None
    try:
        return date.fromisoformat(item)
    except ValueError:
        return None


def _texts(item: object, field: Field) -> tuple[str, ...] | None:
    if type(item) is not list or not item:
        return None
    if not all(type(one) is str and 1 <= len(one) <= field.high
               and storable(one) for one in item):
        return None
    if field.unique and len(set(item)) != len(item):
        return None
    return tuple(item)


def _why(item: object, field: Field) -> str:
    """Why ``item`` is not a value of ``field`` (only asked once it was refused)."""
    if item is _MISSING:
        return "is missing"
    kind, low, high = field.kind, field.low, field.high
    expected = {TEXT: "a string", NUMBER: "a number", CHOICE: "a string",
                INTEGER: "an integer", MOMENT: "a string", DAY: "a string",
                TEXTS: "a non-empty array"}[kind]
    if (kind in (TEXT, MOMENT, DAY, CHOICE) and type(item) is not str) or (
            kind == INTEGER and type(item) is not int) or (
            kind == NUMBER and type(item) not in (int, float)) or (
            kind == TEXTS and (type(item) is not list or not item)):
        return f"must be {expected}" + (" or null" if field.optional else "")
    if kind == TEXT:
        assert isinstance(item, str)
        if not low <= len(item) <= high:
            return f"must have {low:.0f} to {high:.0f} characters"
        return "holds a lone surrogate or NUL, which text cannot store"
    if kind == NUMBER:
        assert isinstance(item, int | float)
        if abs(item) > _LARGEST_INTEGER:
            return "is too large" if type(item) is int else "must be a finite number"
        if item != item:
            return "must be a finite number"
        return f"must be at least {low:g}" if item < low else f"must be at most {high:g}"
    if kind == CHOICE:
        return f"must be one of {', '.join(sorted(field.options))}"
    if kind == INTEGER:
        return f"must be between {low:.0f} and {high:.0f}"
    if kind == MOMENT:
        return "must be an RFC 3339 date-time with a time zone"
    if kind == DAY:
        return "must be a date (YYYY-MM-DD)"
    return (f"must hold {'distinct ' if field.unique else ''}strings of 1 to {high:.0f} "
            "characters")


def event_type_on(event: CloudEvent, topic: Topic) -> EventType:
    """The event's type, if it is one of ``topic``'s and comes from the topic's producer."""
    event_type = _EVENT_TYPES.get(event.type)
    if event_type is None:
        raise UnprocessableEvent(f"unknown event type {event.type[:100]!r}")
    if TOPIC_OF[event_type] is not topic:
        raise UnprocessableEvent(f"{event_type.value} is not an event of {topic.value}")
    if event.source != SOURCE_OF[topic]:
        raise UnprocessableEvent(f"source {event.source[:100]!r} does not publish "
                                 f"{topic.value} (only {SOURCE_OF[topic]} does)")
    return event_type
