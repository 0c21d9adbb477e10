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
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True).encode()


def new_event(event_type: EventType, source: str, subject: str, data: dict[str, Any]) -> CloudEvent:
    return CloudEvent(type=event_type.value, source=source, subject=subject, data=data)


def parse_event(raw: bytes | str | None) -> CloudEvent:
    """Decode and validate one structured-mode message; raise :class:`InvalidEvent` if bad."""
    if raw is None:
        raise InvalidEvent("message has no value")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidEvent(f"value is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidEvent("value is not a JSON object")
    missing = [name for name in REQUIRED_ATTRIBUTES if name not in document]
    if missing:
        raise InvalidEvent(f"missing attributes: {', '.join(missing)}")
    for name in REQUIRED_ATTRIBUTES:
        if not isinstance(document[name], str) or not document[name]:
            raise InvalidEvent(f"attribute {name!r} must be a non-empty string")
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
