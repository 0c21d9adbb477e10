"""The envelope module writes and validates CloudEvents 1.0 structured JSON."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from shared.cloudevents import (
    MAX_EVENT_BYTES,
    REQUIRED_ATTRIBUTES,
    InvalidEvent,
    new_event,
    parse_event,
)
from shared.contract import TOPIC_OF, EventType, Topic


def test_written_event_has_every_required_attribute_and_parses_back() -> None:
    event = new_event(EventType.CYCLE_CREATED, "/okr/goals", "cycle/2026-Q4", {"key": "2026-Q4"})
    document = json.loads(event.to_json())
    assert set(REQUIRED_ATTRIBUTES) <= set(document)
    assert document["specversion"] == "1.0"
    assert document["time"].endswith("Z")
    parsed = parse_event(event.to_json())
    assert (parsed.id, parsed.type, parsed.data, parsed.time) == (
        event.id, event.type, event.data, event.time)


def _valid() -> dict[str, object]:
    return json.loads(new_event(EventType.CYCLE_CREATED, "/s", "cycle/x", {"a": 1}).to_json())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.pop("id"), "missing attributes: id"),
        (lambda d: d.update(specversion="0.3"), "unsupported specversion"),
        (lambda d: d.update(type="okr.unknown.happened"), "unknown event type"),
        (lambda d: d.update(time="yesterday"), "not RFC 3339"),
        (lambda d: d.update(time="2026-11-26T10:00:00"), "no time zone"),
        (lambda d: d.update(data=[1, 2]), "'data' must be a JSON object"),
        (lambda d: d.update(datacontenttype="text/plain"), "unsupported datacontenttype"),
        (lambda d: d.update(source=""), "'source' must be a non-empty string"),
    ],
)
def test_invalid_envelopes_are_refused_with_the_reason(change, reason: str) -> None:
    document = _valid()
    change(document)
    with pytest.raises(InvalidEvent, match=reason):
        parse_event(json.dumps(document).encode())


@pytest.mark.parametrize("raw", [None, b"", b"not json", b"[1]", b"\xff\xfe"])
def test_non_json_values_are_invalid_events(raw: bytes | None) -> None:
    with pytest.raises(InvalidEvent):
        parse_event(raw)


def test_every_event_type_has_exactly_one_topic() -> None:
    assert set(TOPIC_OF) == set(EventType)
    assert TOPIC_OF[EventType.KEY_RESULT_CHECKED_IN] is Topic.GOALS
    assert TOPIC_OF[EventType.OBJECTIVE_STATUS_CHANGED] is Topic.ROLLUPS
    assert TOPIC_OF[EventType.NOTIFICATION_FAILED] is Topic.NOTIFICATIONS
    assert Topic.GOALS.dead_letter == "okr.goals.v1.dlq"


def test_nesting_check_is_linear_on_an_unterminated_string_of_escaped_quotes() -> None:
    # 33 bracket pairs push the count over the limit, so the scan runs over 1 MiB of \"
    hostile = b"[]" * 33 + b'"' + b'\\"' * (MAX_EVENT_BYTES // 2 - 40)
    started = time.process_time()
    with pytest.raises(InvalidEvent):
        parse_event(hostile)
    assert time.process_time() - started < 2.0  # quadratic took hours; linear is ~10 ms


def test_only_parsed_events_are_marked_text_checked() -> None:
    """The typed decoders skip their NUL and lone-surrogate tests for ``text_checked``
    events, so only :func:`parse_event`, which refused those, may mark one; an event built
    in code, or a parsed one copied with other data, is not checked."""
    written = new_event(EventType.CYCLE_CREATED, "/okr/goals", "cycle/x",
                        {"key": "x", "name": "Réduire \u00e9"})
    parsed = parse_event(written.to_json())
    assert parsed.text_checked and not written.text_checked
    assert parsed == written  # not part of equality
    copied = dataclasses.replace(parsed, data={"key": "x\x00", "name": "\ud800"})
    assert not copied.text_checked
    assert b"\\u00e9" in written.to_json()  # the producer escapes non-ASCII text
    for escape in (b"\\u0000", b"\\ud800"):
        with pytest.raises(InvalidEvent):
            parse_event(written.to_json().replace(b"\\u00e9", escape))
