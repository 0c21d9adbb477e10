"""JSON Schemas (draft 2020-12) of the ``data`` of every event type on ``okr.goals.v1``.

One file per event type beside this module, named ``<event type>.json``; they ship with the
package and are referenced by ``shared/contract/asyncapi.yaml``. ``data`` is the item's full
state after the change (for a deletion or removal: its last state). Every property the
producer emits is required and described; ``additionalProperties`` stays open, so a consumer
that validates keeps working when a new optional field is added within ``v1``.

The roll-up events of ``okr.rollups.v1`` (published by the metrics service) have schemas
here too (:data:`ROLLUP_EVENT_TYPES`), and so do the delivery outcomes of
``okr.notifications.v1`` (:data:`NOTIFICATION_EVENT_TYPES`).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from shared.cloudevents import InvalidEvent
from shared.contract import TOPIC_OF, EventType, Topic

DOCUMENTED_EVENT_TYPES: frozenset[EventType] = frozenset(
    event_type for event_type, topic in TOPIC_OF.items() if topic is Topic.GOALS
)
"""The event types of ``okr.goals.v1``, each with a JSON Schema of its ``data``."""

ROLLUP_EVENT_TYPES: frozenset[EventType] = frozenset(
    event_type for event_type, topic in TOPIC_OF.items() if topic is Topic.ROLLUPS
)
"""The event types of ``okr.rollups.v1`` (metrics service), each with a JSON Schema too."""

NOTIFICATION_EVENT_TYPES: frozenset[EventType] = frozenset(
    event_type for event_type, topic in TOPIC_OF.items() if topic is Topic.NOTIFICATIONS
)
"""The event types of ``okr.notifications.v1`` (notification service), with JSON Schemas."""

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)

FORMAT_CHECKER = FormatChecker()
"""jsonschema's format checks, plus ``date-time`` (which it checks only when the optional
``rfc3339-validator`` package is installed; this checker needs no extra dependency)."""


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_rfc3339_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if not _RFC3339.fullmatch(instance):
        return False
    datetime.fromisoformat(instance.upper().replace("Z", "+00:00"))  # ValueError if not a date
    return True


class InvalidEventData(InvalidEvent):
    """An event's ``data`` does not match the JSON Schema of its type; the message lists why."""

    def __init__(self, event_type: str, problems: list[str]) -> None:
        super().__init__(f"data of {event_type} does not match its schema: "
                         + "; ".join(problems))
        self.event_type = event_type
        self.problems = problems


class UndocumentedEventType(LookupError):
    """No JSON Schema is published for this event type (yet)."""


def schema_file_name(event_type: EventType | str) -> str:
    return f"{EventType(event_type).value}.json"


def schema_for(event_type: EventType | str) -> dict[str, Any] | None:
    """The JSON Schema of ``data`` for ``event_type``; None if it has none (yet)."""
    try:
        known = EventType(event_type)
    except ValueError:
        return None
    if known not in DOCUMENTED_EVENT_TYPES | ROLLUP_EVENT_TYPES | NOTIFICATION_EVENT_TYPES:
        return None
    return _load(known)


def validate_event_data(event_type: EventType | str, data: Any) -> None:
    """Raise :class:`InvalidEventData` listing every mismatch if ``data`` breaks its schema.

    An unknown or undocumented event type raises :class:`UndocumentedEventType`.
    """
    validator = _validator(str(event_type))
    errors = sorted(validator.iter_errors(data), key=lambda error: list(error.absolute_path))
    if errors:
        raise InvalidEventData(str(event_type), [
            f"{error.json_path}: {error.message}" for error in errors])


@cache
def _load(event_type: EventType) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(schema_file_name(event_type)).read_text(
        encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(event_type: str) -> Draft202012Validator:
    schema = schema_for(event_type)
    if schema is None:
        raise UndocumentedEventType(f"no JSON Schema is published for event type {event_type!r}")
    return Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
