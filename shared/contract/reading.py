"""Reading the ``data`` of an untrusted event into typed values, field by field.

Every record on a topic is untrusted bytes: whatever a field holds (another type, nothing,
an integer of hundreds of digits, ``NaN``, a lone surrogate, a megabyte of text), reading
it either returns a value the read models can store or raises
:class:`~shared.messaging.consumer.UnprocessableEvent` naming the field, and nothing else.

What is checked is what a consumer relies on: the JSON type, presence, bounds of numbers
and lengths of text (the schema's ``maxLength``, else :data:`MAX_TEXT`), enumerations that
drive behaviour, and that text can be stored (no lone surrogates, no NUL). Formats that only
identify things (the ``uuid`` format of ids, the patterns of keys) are the producer's
promise and are not checked again: a tolerant reader keeps working if they widen.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from shared.cloudevents import CloudEvent
from shared.contract import SOURCE_OF, TOPIC_OF, EventType, Topic
from shared.messaging.consumer import UnprocessableEvent

MAX_TEXT = 1000
"""Length limit of a text field whose schema sets none."""

MAX_ID = 64
"""Length limit of an id: the read models' id columns hold 64 characters (uuids take 36)."""

MAX_VERSION = 2**31 - 1
"""The largest version any of our databases can store (a 32-bit integer column)."""


def event_type_on(event: CloudEvent, topic: Topic) -> EventType:
    """The event's type, if it is one of ``topic``'s and comes from the topic's producer."""
    try:
        event_type = EventType(event.type)
    except ValueError:
        raise UnprocessableEvent(f"unknown event type {event.type!r}") from None
    if TOPIC_OF[event_type] is not topic:
        raise UnprocessableEvent(f"{event_type.value} is not an event of {topic.value}")
    if event.source != SOURCE_OF[topic]:
        raise UnprocessableEvent(f"source {event.source[:100]!r} does not publish "
                                 f"{topic.value} (only {SOURCE_OF[topic]} does)")
    return event_type


class Fields:
    """One JSON object of an event's ``data``, read field by field.

    ``where`` names the object in error messages (``data``, ``data.key_result``).
    """

    __slots__ = ("values", "where")

    def __init__(self, value: object, where: str = "data") -> None:
        if not isinstance(value, dict):
            raise UnprocessableEvent(f"{where} must be a JSON object")
        self.values: dict[str, Any] = value
        self.where = where

    def _get(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise UnprocessableEvent(f"{self.where}.{name} is missing") from None

    def _refuse(self, name: str, why: str) -> UnprocessableEvent:
        return UnprocessableEvent(f"{self.where}.{name} {why}")

    def object(self, name: str) -> Fields:
        return Fields(self._get(name), f"{self.where}.{name}")

    def text(self, name: str, max_length: int = MAX_TEXT, min_length: int = 1) -> str:
        return _text(self._get(name), f"{self.where}.{name}", min_length, max_length)

    def optional_text(self, name: str, max_length: int = MAX_TEXT) -> str | None:
        return None if self._get(name) is None else self.text(name, max_length, 0)

    def identifier(self, name: str) -> str:
        return self.text(name, MAX_ID)

    def choice(self, name: str, options: Collection[str]) -> str:
        value = self._get(name)
        if not isinstance(value, str) or value not in options:
            raise self._refuse(name, f"must be one of {', '.join(sorted(options))}")
        return value

    def optional_choice(self, name: str, options: Collection[str]) -> str | None:
        return None if self._get(name) is None else self.choice(name, options)

    def number(self, name: str, minimum: float | None = None,
               maximum: float | None = None) -> float:
        value = self._get(name)
        if type(value) is int:  # not bool: JSON true is no number
            try:
                value = float(value)
            except OverflowError:
                raise self._refuse(name, "is too large") from None
        elif type(value) is not float:
            raise self._refuse(name, "must be a number")
        if not math.isfinite(value):
            raise self._refuse(name, "must be a finite number")
        if minimum is not None and value < minimum:
            raise self._refuse(name, f"must be at least {minimum:g}")
        if maximum is not None and value > maximum:
            raise self._refuse(name, f"must be at most {maximum:g}")
        return value

    def optional_number(self, name: str, minimum: float | None = None,
                        maximum: float | None = None) -> float | None:
        return None if self._get(name) is None else self.number(name, minimum, maximum)

    def integer(self, name: str, minimum: int, maximum: int) -> int:
        value = self._get(name)
        if type(value) is not int:
            raise self._refuse(name, "must be an integer")
        if not minimum <= value <= maximum:
            raise self._refuse(name, f"must be between {minimum} and {maximum}")
        return value

    def version(self) -> int:
        return self.integer("version", 1, MAX_VERSION)

    def moment(self, name: str) -> datetime:
        """An RFC 3339 date-time with its offset (the contract writes UTC with ``Z``)."""
        text = self.text(name, 40)
        try:
            moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        except ValueError:
            raise self._refuse(name, "must be an RFC 3339 date-time") from None
        if moment.tzinfo is None:
            raise self._refuse(name, "must carry a time zone")
        return moment

    def optional_moment(self, name: str) -> datetime | None:
        return None if self._get(name) is None else self.moment(name)

    def day(self, name: str) -> date:
        text = self.text(name, 10)
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self._refuse(name, "must be a date (YYYY-MM-DD)") from None

    def texts(self, name: str, max_length: int, *, unique: bool = False) -> tuple[str, ...]:
        """A non-empty JSON array of non-empty strings."""
        value = self._get(name)
        if not isinstance(value, list) or not value:
            raise self._refuse(name, "must be a non-empty array")
        read = tuple(_text(item, f"{self.where}.{name}[{index}]", 1, max_length)
                     for index, item in enumerate(value))
        if unique and len(set(read)) != len(read):
            raise self._refuse(name, "must not repeat an item")
        return read


def _text(value: object, label: str, min_length: int, max_length: int) -> str:
    if not isinstance(value, str):
        raise UnprocessableEvent(f"{label} must be a string")
    if not min_length <= len(value) <= max_length:
        raise UnprocessableEvent(f"{label} must have {min_length} to {max_length} characters")
    if not storable(value):
        raise UnprocessableEvent(f"{label} holds a lone surrogate or NUL, which text cannot store")
    return value


def storable(text: str) -> bool:
    """True when a database text column can hold ``text`` (UTF-8 encodable, no NUL)."""
    if text.isascii():
        return "\x00" not in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text
