"""Events built by hand in tests, held to the same JSON Schemas as the services' own.

Tests of the consumers (metrics, notifications) feed them events made by builders rather
than by the goals service; a builder that drifted from the contract would test a consumer
against events nobody emits. Builders make their events through :func:`new_event`, which
refuses data its schema refuses. A test that feeds a consumer data outside the contract on
purpose (to show the consumer copes) builds it inside :func:`off_contract`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from shared import cloudevents
from shared.cloudevents import CloudEvent
from shared.contract import EventType
from shared.contract.schemas import validate_event_data

_unchecked = 0


@contextlib.contextmanager
def off_contract() -> Iterator[None]:
    """Build events whose data breaks their schema, deliberately, inside this block."""
    global _unchecked
    _unchecked += 1
    try:
        yield
    finally:
        _unchecked -= 1


def new_event(event_type: EventType, source: str, subject: str,
              data: dict[str, Any]) -> CloudEvent:
    """:func:`shared.cloudevents.new_event`, with ``data`` validated against its schema."""
    event = cloudevents.new_event(event_type, source, subject, data)
    if not _unchecked:
        validate_event_data(event.type, event.data)
    return event
