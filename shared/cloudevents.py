"""CloudEvents 1.0 in structured JSON mode: the one place that writes and validates the envelope.

Every message on an ``okr.*`` topic is a JSON object with the context attributes
``specversion``, ``id``, ``source``, ``type``, ``time``, ``subject``, ``datacontenttype``
(always ``application/json``) and ``data``. The Kafka message key is the id of the objective
whose roll-up tree the event concerns (or the item's own key for reference data), so
per-objective order holds. ``data`` carries the item's full state after the change,
including its ``version``, so a consumer never needs to call back.
"""

from __future__ import annotations

import json
import math
import operator
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.contract import EventType

SPEC_VERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"
KAFKA_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"

REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "datacontenttype")


_EVENT_TYPES = frozenset(t.value for t in EventType)


class InvalidEvent(ValueError):
    """A message is not a well-formed CloudEvent of a known type; the reason says why."""


@dataclass(frozen=True)
class CloudEvent:
    type: str
    source: str
    subject: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    # True only on the events :func:`parse_event` returns: it has refused every value with
    # a string (key or text, anywhere in ``data``) holding NUL or a lone surrogate, so the
    # typed decoders need not look for them again in each text field. Not an argument (an
    # event built in code, or copied with ``dataclasses.replace``, is not checked) and not
    # part of equality.
    text_checked: bool = field(default=False, init=False, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "subject": self.subject,
            "datacontenttype": DATA_CONTENT_TYPE,
            "data": self.data,
        }

    def to_json(self) -> bytes:
        return _ENCODER.encode(self.to_dict()).encode()


# json.dumps with any option builds an encoder per call; this is the same one, built once
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def new_event(event_type: EventType, source: str, subject: str, data: dict[str, Any]) -> CloudEvent:
    return CloudEvent(type=event_type.value, source=source, subject=subject, data=data)


MAX_EVENT_BYTES = 1_048_576
"""The largest value a consumer decodes (Kafka's default ``message.max.bytes``); our own
events are a few kilobytes."""

MAX_NESTING = 32
"""The deepest nesting of arrays and objects accepted (our events nest five deep)."""

MAX_ID_LENGTH = 64
"""The longest event id accepted: what every consumer's processed-event record holds."""

# A string token matches even when its closing quote is missing (to the end of the
# value): a pattern that could fail there would be tried again from every escaped quote
# inside it, quadratic in the value's length (a 1 MiB value of them took hours).
_BRACKETS_OUTSIDE_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|([\[\]{}])', re.DOTALL)
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")
_SURROGATE_OR_NUL_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")


class _Refused(ValueError):
    """A value outside what :func:`parse_event` accepts (raised from json's hooks)."""


def parse_event(raw: object) -> CloudEvent:
    """Decode and validate one structured-mode message; raise :class:`InvalidEvent` if bad.

    Total: whatever ``raw`` is, the result is an event or :class:`InvalidEvent` with a
    short, printable reason, never another exception. Besides the CloudEvents rules it
    refuses what the platform cannot hold: values over :data:`MAX_EVENT_BYTES`, text that
    is not UTF-8 (lone surrogates included), nesting deeper than :data:`MAX_NESTING`
    (checked before decoding, so nothing recurses that deep), numbers that are not finite
    doubles (``NaN``, ``Infinity``, ``1e999``, integers beyond a double's range), NUL in
    text (PostgreSQL cannot store it), and ids longer than :data:`MAX_ID_LENGTH`.
    """
    try:
        return _parse(raw)
    except InvalidEvent as error:
        raise InvalidEvent(printable(str(error))) from None
    except Exception as error:  # any other failure to decode is this value's fault too
        raise InvalidEvent(printable(f"value cannot be decoded: {type(error).__name__}: "
                                     f"{error}")) from None


def printable(text: str, limit: int = 300) -> str:
    """``text`` as printable ASCII of at most ``limit`` characters: any other character
    escaped (``\\n``, ``\\xff``, ``\\ud800``), then cut. Printable text is left as it is."""
    escaped = _NOT_PRINTABLE_ASCII.sub(_escape, text[:limit])
    return escaped if len(escaped) <= limit else escaped[:limit - 3] + "..."


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def _parse(raw: object) -> CloudEvent:
    if type(raw) is not bytes:
        if raw is None:
            raise InvalidEvent("message has no value")
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogatepass")  # a lone surrogate fails below
        if not isinstance(raw, bytes | bytearray | memoryview):
            raise InvalidEvent(f"value is a {type(raw).__name__}, not bytes")
        raw = bytes(raw)
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"value of {len(raw)} bytes is over the limit of {MAX_EVENT_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidEvent(f"value is not UTF-8: {error.reason} at byte {error.start}") from None
    _check_nesting(raw)
    try:
        document = _json(text)
    except json.JSONDecodeError as error:
        raise InvalidEvent(f"value is not JSON: {error}") from None
    except _Refused as error:
        raise InvalidEvent(f"value is not JSON the platform accepts: {error}") from None
    # Valid UTF-8 holds neither a lone surrogate nor (JSON refuses control characters in
    # strings) a raw NUL: only an escape can write them, and most values have no escape.
    # Past this point no string in the document holds either: the event says so
    # (CloudEvent.text_checked), and the typed decoders do not look for them again.
    if b"\\u" in raw and _SURROGATE_OR_NUL_ESCAPE.search(raw):
        _check_text(document)
    return _event_of(document)


def _json(text: str) -> Any:
    """``json.loads(text)`` with the platform's number hooks (:data:`_DECODER`, built once:
    ``json.loads`` with hooks builds a decoder and its scanner per call)."""
    try:
        document, end = _scan(text, 0)
    except StopIteration:  # no value at 0: leading whitespace, or not JSON (json says why)
        return _DECODER.decode(text)
    if end != len(text):  # trailing whitespace, or extra data (json says which)
        return _DECODER.decode(text)
    return document


def _check_nesting(raw: bytes) -> None:
    """Refuse arrays and objects nested deeper than :data:`MAX_NESTING`, without recursing."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_NESTING:  # nesting cannot be deeper
        return
    depth = 0
    for match in _BRACKETS_OUTSIDE_STRINGS.finditer(raw):
        bracket = match.group(1)
        if bracket is None:
            continue  # a string
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > MAX_NESTING:
            raise InvalidEvent(f"value nests deeper than {MAX_NESTING} levels")


def _refuse_constant(name: str) -> object:
    raise _Refused(f"{name} is not a number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(f"number {text[:20]} is out of range")
    return number


def _finite_int(text: str) -> int:
    if len(text) <= 308:  # below 10**308, within a double's range (the usual case)
        return int(text)
    if len(text) > 310:  # past a double's range whatever the digits; int() would be slow
        raise _Refused(f"integer of {len(text)} digits is out of range")
    number = int(text)
    float(number)  # OverflowError (refused by parse_event) past a double's range
    return number


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float,
                            parse_int=_finite_int)
# (text, index) -> (value, end), StopIteration where no value starts
_scan = _DECODER.scan_once  # type: ignore[attr-defined]


def _check_text(document: object) -> None:
    """Refuse strings with lone surrogates (valid JSON escapes, not Unicode text) or NUL
    (valid Unicode that PostgreSQL's text cannot hold)."""
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidEvent("value holds a lone surrogate: not Unicode text") from None
            if "\x00" in item:
                raise InvalidEvent("value holds a NUL character")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _event_of(document: object) -> CloudEvent:
    """The event ``document`` holds: every attribute fetched at once (one C call) and
    tested for a well-formed event (the consumers' hot path); anything else goes to
    :func:`_refused_event`, which checks one rule at a time and says which one fails."""
    if type(document) is dict:
        try:
            event_id, event_type, data, source, subject, time, version, content_type = (
                _ATTRIBUTES(document))
        except KeyError:
            return _refused_event(document)
        if (type(event_id) is str and 0 < len(event_id) <= MAX_ID_LENGTH
                and type(event_type) is str and event_type in _EVENT_TYPES
                and type(source) is str and source and type(subject) is str and subject
                and type(time) is str and type(data) is dict
                and version == SPEC_VERSION and content_type == DATA_CONTENT_TYPE):
            try:
                moment = _fromisoformat(time.replace("Z", "+00:00"))
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is not None:
                # the event without the dataclass's __init__ and its default factories:
                # every field is set here, text_checked included (see _parse). One setattr
                # per field, not one assignment of a whole __dict__: that would make the
                # instance hold a dict object of its own (Python keeps a plain instance's
                # attributes inline), one more object per event for the cyclic garbage
                # collector to walk, which cost more than the calls it saved
                event = _new_object(CloudEvent)
                _set_attribute(event, "type", event_type)
                _set_attribute(event, "source", source)
                _set_attribute(event, "subject", subject)
                _set_attribute(event, "data", data)
                _set_attribute(event, "id", event_id)
                _set_attribute(event, "time", moment)
                _set_attribute(event, "text_checked", True)
                return event
    return _refused_event(document)


_ATTRIBUTES = operator.itemgetter("id", "type", "data", "source", "subject", "time",
                                  "specversion", "datacontenttype")
_fromisoformat = datetime.fromisoformat
_new_object = object.__new__
_set_attribute = object.__setattr__


def _refused_event(document: object) -> CloudEvent:
    if not isinstance(document, dict):
        raise InvalidEvent("value is not a JSON object")
    missing = [name for name in REQUIRED_ATTRIBUTES if name not in document]
    if missing:
        raise InvalidEvent(f"missing attributes: {', '.join(missing)}")
    for name in REQUIRED_ATTRIBUTES:
        if not isinstance(document[name], str) or not document[name]:
            raise InvalidEvent(f"attribute {name!r} must be a non-empty string")
    if len(document["id"]) > MAX_ID_LENGTH:
        raise InvalidEvent(f"attribute 'id' is longer than {MAX_ID_LENGTH} characters")
    if document["specversion"] != SPEC_VERSION:
        raise InvalidEvent(f"unsupported specversion {document['specversion']!r}")
    if document["datacontenttype"] != DATA_CONTENT_TYPE:
        raise InvalidEvent(f"unsupported datacontenttype {document['datacontenttype']!r}")
    if document["type"] not in _EVENT_TYPES:
        raise InvalidEvent(f"unknown event type {document['type']!r}")
    try:
        time = datetime.fromisoformat(document["time"].replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEvent(f"attribute 'time' is not RFC 3339: {document['time']!r}") from None
    if time.tzinfo is None:
        raise InvalidEvent("attribute 'time' has no time zone")
    if not isinstance(document.get("data"), dict):
        raise InvalidEvent("attribute 'data' must be a JSON object")
    return CloudEvent(
        id=document["id"],
        source=document["source"],
        type=document["type"],
        subject=document["subject"],
        time=time,
        data=document["data"],
    )
