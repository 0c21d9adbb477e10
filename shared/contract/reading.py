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
import operator
import sys
from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple, NoReturn, Protocol, TypeVar, overload

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
_Tuple = TypeVar("_Tuple", bound=tuple[Any, ...])
_Read = TypeVar("_Read", covariant=True)

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


class Reader(Protocol[_Read]):
    """A compiled reader (:func:`reader`)."""

    def __call__(self, value: object, where: str = ..., text_checked: bool = ...) -> _Read: ...


def read(value: object, fields: Sequence[Field], where: str = "data",
         text_checked: bool = False) -> list[Any]:
    """The values of ``fields`` in ``value`` (a JSON object), in order; raise
    :class:`UnprocessableEvent` naming the first field that is missing or wrong.
    ``text_checked``: see :func:`reader`."""
    known = _READERS.get(id(fields))
    if known is not None and known[0] is fields:
        return known[1](value, where, text_checked)
    compiled = reader(fields)
    if type(fields) is tuple and len(_READERS) < _MAX_READERS:  # immutable: safe to keep
        _READERS[id(fields)] = (fields, compiled)
    return compiled(value, where, text_checked)


_READERS: dict[int, tuple[Sequence[Field], Reader[list[Any]]]] = {}
_MAX_READERS = 64  # the contract's field tuples; any others are compiled per call


@overload
def reader(fields: Sequence[Field]) -> Reader[list[Any]]: ...


@overload
def reader(fields: Sequence[Field], into: type[_Tuple]) -> Reader[_Tuple]: ...


def reader(fields: Sequence[Field], into: type[Any] | None = None) -> Reader[Any]:
    """:func:`read` for one tuple of fields, compiled once into straight-line code.

    The consumers read every event through these, so a reader is a function written for its
    fields: every field fetched at once (an ``itemgetter``; field by field only when one is
    missing), then one test per field in order, the bounds and options bound in, no loop
    and no dispatch on the kind; a value that fails a test goes to :func:`_refuse`, which
    says why. The function takes ``(value, where, text_checked=False)`` and returns the
    values as a list, or, with ``into`` (a :class:`~typing.NamedTuple` whose fields are
    ``fields``, in that order), an ``into`` built straight from them (a named tuple's
    ``__new__`` only packs its values). ``text_checked=True`` is the caller's word that no
    string anywhere in ``value`` holds NUL or a lone surrogate (what
    :attr:`CloudEvent.text_checked <shared.cloudevents.CloudEvent.text_checked>` says of
    an event's ``data``): text fields then test only their type and length.
    """
    if into is not None and tuple(getattr(into, "_fields", ())) != tuple(f.name for f in fields):
        raise TypeError(f"{into.__name__} is not a NamedTuple of the fields "
                        f"{', '.join(f.name for f in fields)}")
    namespace: dict[str, Any] = {
        "_MISSING": _MISSING, "_LARGEST_INTEGER": _LARGEST_INTEGER, "_storable": storable,
        "_fromisoformat": datetime.fromisoformat, "_day": _day, "_texts": _texts,
        "_refuse": _refuse, "_new": tuple.__new__, "_into": into,
        "UnprocessableEvent": UnprocessableEvent}
    values = ", ".join(f"v{index}" for index in range(len(fields)))
    lines = ["def read_fields(value, where='data', text_checked=False):",
             "    if type(value) is not dict:",
             "        raise UnprocessableEvent(f'{where} must be a JSON object')"]
    if len(fields) > 1:
        # every field at once (one C call); a missing one is looked up field by field
        namespace["_every"] = operator.itemgetter(*(field.name for field in fields))
        lines += ["    try:", f"        {values} = _every(value)", "    except KeyError:",
                  "        get = value.get"]
        lines += [f"        v{index} = get({field.name!r}, _MISSING)"
                  for index, field in enumerate(fields)]
    else:
        lines += ["    get = value.get"]
        lines += [f"    v{index} = get({field.name!r}, _MISSING)"
                  for index, field in enumerate(fields)]
    for index, field in enumerate(fields):
        namespace[f"field{index}"] = field
        namespace[f"options{index}"] = field.options
        item = f"v{index}"
        checks = _CHECKS[field.kind](item, index, field)
        if field.optional:
            lines.append(f"    if {item} is not None:")
            checks = ["    " + line for line in checks]
        lines.extend("    " + line for line in checks)
    lines.append(f"    return [{values}]" if into is None else
                 f"    return _new(_into, ({values}{',' if len(fields) == 1 else ''}))")
    exec("\n".join(lines), namespace)  # our own source, built from the fields
    compiled: Reader[Any] = namespace["read_fields"]
    return compiled


def _bounds(item: str, low: float, high: float) -> str:
    """`` and low <= item <= high`` with the infinite bounds left out."""
    tests = ([f"{low!r} <= {item}"] if math.isfinite(low) else []) + (
        [f"{item} <= {high!r}"] if math.isfinite(high) else [])
    return "".join(f" and {test}" for test in tests)


def _refusal(index: int, item: str) -> str:
    return f"    _refuse(where, field{index}, {item})"


def _text_checks(item: str, index: int, field: Field) -> list[str]:
    # text_checked: the caller vouches that no text in the value holds NUL or a lone
    # surrogate (parse_event's events: see CloudEvent.text_checked), so only the type and
    # the length are left to test
    return [f"if not (type({item}) is str{_bounds(f'len({item})', field.low, field.high)}",
            f"        and (text_checked or '\\x00' not in {item} and ({item}.isascii()"
            f" or _storable({item})))):",
            _refusal(index, item)]


def _number_checks(item: str, index: int, field: Field) -> list[str]:
    # an integer within a double's range reads as a float; x - x is 0.0 for finite x only
    return [f"if type({item}) is int and -_LARGEST_INTEGER <= {item} <= _LARGEST_INTEGER:",
            f"    {item} = float({item})",
            f"if not (type({item}) is float and {item} - {item} == 0.0"
            f"{_bounds(item, field.low, field.high)}):",
            _refusal(index, item)]


def _choice_checks(item: str, index: int, field: Field) -> list[str]:
    return [f"if not (type({item}) is str and {item} in options{index}):", _refusal(index, item)]


def _integer_checks(item: str, index: int, field: Field) -> list[str]:
    return [f"if not (type({item}) is int{_bounds(item, field.low, field.high)}):",
            _refusal(index, item)]


def _moment_checks(item: str, index: int, field: Field) -> list[str]:
    # an RFC 3339 date-time with its offset (fromisoformat takes "Z" since Python 3.11)
    return ["try:",
            f"    parsed = _fromisoformat({item}) if type({item}) is str and len({item}) <= 40"
            " else None",
            "except ValueError:",
            "    parsed = None",
            "if parsed is None or parsed.tzinfo is None:",
            _refusal(index, item),
            f"{item} = parsed"]


def _day_checks(item: str, index: int, field: Field) -> list[str]:
    return [f"parsed = _day({item})", "if parsed is None:", _refusal(index, item),
            f"{item} = parsed"]


def _texts_checks(item: str, index: int, field: Field) -> list[str]:
    return [f"parsed = _texts({item}, field{index}, text_checked)", "if parsed is None:",
            _refusal(index, item), f"{item} = parsed"]


_CHECKS: dict[str, Callable[[str, int, Field], list[str]]] = {
    TEXT: _text_checks, NUMBER: _number_checks, CHOICE: _choice_checks,
    INTEGER: _integer_checks, MOMENT: _moment_checks, DAY: _day_checks, TEXTS: _texts_checks}


def _refuse(where: str, field: Field, item: object) -> NoReturn:
    raise UnprocessableEvent(f"{where}.{field.name} {_why(item, field)}")


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


def _day(item: object) -> date | None:
    if type(item) is not str or len(item) != 10:
        return None
    try:
        return date.fromisoformat(item)
    except ValueError:
        return None


def _texts(item: object, field: Field, text_checked: bool = False) -> tuple[str, ...] | None:
    if type(item) is not list or not item:
        return None
    if not all(type(one) is str and 1 <= len(one) <= field.high
               and (text_checked or storable(one)) for one in item):
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
