"""The typed decoders of ``shared/contract`` are held equal to the JSON Schemas, and total.

* Every ``data`` a schema accepts decodes, and the typed value carries the same fields
  (instances generated from the schemas themselves by a small schema-to-hypothesis
  translation below). Two platform-wide rules beyond any schema apply: text holds no NUL
  and no lone surrogate (no database could store it; ``parse_event`` refuses it too), and a
  check-in names the key result it comes with.
* The typed classes have exactly the fields each schema requires, and the decoder reads
  every one of them: an event without it is refused.
* Whatever hostile value stands in any field (another type, nothing, huge integers, NaN,
  infinities, lone surrogates, NUL, very long text, deep structures), decoding returns or
  raises :class:`UnprocessableEvent`, never another exception; so do the metrics and
  notification consumers' own decoding steps built on it.
* An event whose ``source`` is not its topic's producer is refused.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import math
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from services.metrics.service_layer.goal_events import decode as metrics_decode
from services.notifications.service_layer.recording import decode as notifications_decode
from shared.cloudevents import CloudEvent, parse_event
from shared.contract import SOURCE_OF, TOPIC_OF, EventType, Topic
from shared.contract import goal_events as goals
from shared.contract.rollup_events import OPTIONAL_FIELDS, RollupChange, decode_rollup_event
from shared.contract.schemas import FORMAT_CHECKER, schema_for
from shared.messaging.consumer import UnprocessableEvent
from tests.metrics import goal_events as ge
from tests.notifications import builders as nb

GOAL_TYPES = sorted(t for t, topic in TOPIC_OF.items() if topic is Topic.GOALS)
ROLLUP_TYPES = sorted(t for t, topic in TOPIC_OF.items() if topic is Topic.ROLLUPS)

#: The typed class of each event type's ``data`` (goal items by the item's name).
ITEM_CLASS: dict[str, type] = {
    "department": goals.Department, "cycle": goals.Cycle, "objective": goals.Objective,
    "key_result": goals.KeyResult, "contribution": goals.Contribution, "link": goals.Link,
}
EXAMPLES = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
PER_TYPE = settings(EXAMPLES, max_examples=8)


def decode(event_type: EventType, data: dict[str, Any]) -> object:
    event = CloudEvent(type=event_type.value, source=SOURCE_OF[TOPIC_OF[event_type]],
                       subject="test", data=data)
    if TOPIC_OF[event_type] is Topic.ROLLUPS:
        return decode_rollup_event(event).change
    return goals.decode_goal_event(event)


def typed_parts(event_type: EventType) -> list[tuple[type, list[str], dict[str, Any]]]:
    """(typed class, path to its object in ``data``, the schema of that object)."""
    schema = schema_for(event_type)
    assert schema is not None
    if event_type is EventType.KEY_RESULT_CHECKED_IN:
        return [(goals.CheckIn, ["check_in"], schema["$defs"]["CheckIn"]),
                (goals.KeyResult, ["key_result"], schema["$defs"]["KeyResult"])]
    if event_type in ROLLUP_TYPES:
        return [(RollupChange, [], schema)]
    return [(ITEM_CLASS[event_type.value.split(".")[1]], [], schema)]


def typed_objects(event_type: EventType, decoded: object) -> list[object]:
    if isinstance(decoded, goals.GoalEvent):
        return [decoded.check_in, decoded.item] if decoded.check_in else [decoded.item]
    return [decoded]


# -- instances of a schema, generated from it ---------------------------------------------------

TEXT = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")


def instances(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        return instances(root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return st.one_of(*[_instances_of(kind, schema, root) for kind in kinds])


def _instances_of(kind: str, schema: dict[str, Any], root: dict[str, Any]
                  ) -> st.SearchStrategy[Any]:
    if kind == "null":
        return st.none()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.floats(low, high, allow_nan=False, allow_infinity=False) | st.integers(
            -2**53 if low is None else math.ceil(low), 2**53 if high is None else int(high))
    if kind == "string":
        return _strings(schema)
    if kind == "array":
        return st.lists(instances(schema["items"], root), min_size=schema.get("minItems", 0),
                        max_size=schema.get("maxItems", 4),
                        unique=schema.get("uniqueItems", False))
    assert kind == "object", kind
    properties = schema["properties"]
    return st.fixed_dictionaries({name: instances(properties[name], root)
                                  for name in schema["required"]})


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    match schema.get("format"):
        case "uuid":
            return st.uuids().map(str)
        case "date":
            return st.dates().map(date.isoformat)
        case "date-time":
            return st.datetimes(timezones=st.just(UTC)).map(
                lambda moment: moment.isoformat().replace("+00:00", "Z"))
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    return st.text(TEXT, min_size=schema.get("minLength", 0),
                   max_size=min(schema.get("maxLength", 60), 60)).filter(
        lambda text: len(text) <= schema.get("maxLength", 60))


@st.composite
def valid_data(draw: st.DrawFn, event_type: EventType) -> dict[str, Any]:
    schema = schema_for(event_type)
    assert schema is not None
    data = draw(instances(schema, schema))
    if event_type is EventType.KEY_RESULT_CHECKED_IN:  # beyond the schema: see the module
        data["check_in"]["key_result_id"] = data["key_result"]["id"]
    if "starts_on" in data:
        data["starts_on"], data["ends_on"] = sorted([data["starts_on"], data["ends_on"]])
    assume(_validator(event_type).is_valid(data))  # the if/then/else rules
    return data


@functools.cache
def _validator(event_type: EventType) -> Draft202012Validator:
    return Draft202012Validator(schema_for(event_type), format_checker=FORMAT_CHECKER)


def _same(value: object, json_value: object) -> bool:
    if isinstance(value, datetime):
        return value == datetime.fromisoformat(str(json_value).replace("Z", "+00:00"))
    if isinstance(value, date):
        return value == date.fromisoformat(str(json_value))
    if isinstance(value, tuple):
        return list(value) == json_value
    return value == json_value


@pytest.mark.parametrize("event_type", GOAL_TYPES + ROLLUP_TYPES, ids=str)
@PER_TYPE
@given(data=st.data())
def test_every_data_the_schema_accepts_decodes_to_the_same_fields(
        event_type: EventType, data: st.DataObject) -> None:
    instance = data.draw(valid_data(event_type))
    decoded = decode(event_type, instance)
    for typed, (cls, path, _) in zip(typed_objects(event_type, decoded),
                                     typed_parts(event_type), strict=True):
        assert isinstance(typed, cls)
        part = instance
        for name in path:
            part = part[name]
        for name in cls._fields:  # type: ignore[attr-defined]
            if name in part:
                assert _same(getattr(typed, name), part[name]), name


@pytest.mark.parametrize("event_type", GOAL_TYPES + ROLLUP_TYPES, ids=str)
@settings(PER_TYPE, max_examples=1)
@given(data=st.data())
def test_typed_classes_have_exactly_the_required_fields_and_each_is_read(
        event_type: EventType, data: st.DataObject) -> None:
    example = data.draw(valid_data(event_type))
    for cls, path, schema in typed_parts(event_type):
        names = set(cls._fields)  # type: ignore[attr-defined]
        if event_type is EventType.ROLLUP_CHANGED:
            names.discard("previous_status")  # okr.objective.status_changed's alone
        optional = set(goals.OPTIONAL_FIELDS.get(cls, ()))
        assert optional <= set(schema["properties"]) - set(schema["required"]), cls.__name__
        names -= optional
        if event_type in ROLLUP_TYPES:
            names -= {field.name for field in OPTIONAL_FIELDS}  # older events lack them
        assert names == set(schema["required"]), cls.__name__
        for name in schema["required"]:
            broken = copy.deepcopy(example)
            part = broken
            for step in path:
                part = part[step]
            del part[name]
            with pytest.raises(UnprocessableEvent, match=name):
                decode(event_type, broken)


# -- hostile values -----------------------------------------------------------------------------

HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(10**300, 10**400),
    st.integers(-10**400, -10**300), st.floats(), st.sampled_from([math.nan, math.inf, -math.inf]),
    st.text(), st.sampled_from(["\ud800", "a\udfffb", "\x00", "x" * 100_000, "é" * 5_000,
                                "2026-13-45T99:99:99Z", "2026-11-02T09:30:00", "9999-12-31",
                                "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59",
                                "", "   "]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.none(),
                                                         max_size=2),
    st.recursive(st.none(), lambda inner: st.lists(inner, max_size=2), max_leaves=50),
)

#: Valid events of every type, from the consumers' test builders.
SAMPLES: list[CloudEvent] = [
    ge.cycle(), ge.objective(ge.new_id(), ["marketing", "sales"]),
    ge.objective(ge.new_id(), ["sales"], version=3, deleted=True),
    ge.key_result(ge.new_id(), ge.new_id()), ge.key_result(ge.new_id(), ge.new_id(), version=2),
    ge.key_result_deleted(ge.new_id(), ge.new_id(), 4),
    ge.check_in(ge.new_id(), ge.new_id(), 2, 25.0, confidence=0.5),
    ge.contribution(ge.new_id(), "key_result", ge.new_id(), "objective", ge.new_id()),
    ge.contribution(ge.new_id(), "objective", ge.new_id(), "objective", ge.new_id(),
                    removed=True),
    ge.link(ge.new_id(), ge.new_id(), "sales", "objective", ge.new_id(), "finance"),
    ge.link(ge.new_id(), ge.new_id(), "sales", "key_result", ge.new_id(), "finance",
            removed=True),
    nb.objective_created(ge.new_id()), nb.checked_in(ge.new_id(), ge.new_id(), 10.0),
    nb.status_changed(ge.new_id(), "off_track"), nb.rollup_changed(ge.new_id(), "at_risk"),
]


def _observed(event: CloudEvent, observed_at: Any) -> CloudEvent:
    """A check-in event whose check-in carries ``observed_at`` (optional in the schema)."""
    data = copy.deepcopy(event.data)
    data["check_in"]["observed_at"] = observed_at
    return dataclasses.replace(event, data=data)


SAMPLES.append(_observed(ge.check_in(ge.new_id(), ge.new_id(), 2, 25.0),
                         "2026-10-30T16:00:00Z"))


def test_observed_at_is_optional_and_read_when_given() -> None:
    event = ge.check_in(ge.new_id(), ge.new_id(), 2, 25.0)
    schema_check = _validator(EventType.KEY_RESULT_CHECKED_IN)
    absent = goals.decode_goal_event(event).check_in
    assert absent is not None and absent.observed_at == absent.created_at
    null = goals.decode_goal_event(_observed(event, None)).check_in
    assert null is not None and null.observed_at == null.created_at
    given_event = _observed(event, "2026-10-30T16:00:00Z")
    schema_check.validate(given_event.data)
    given_check_in = goals.decode_goal_event(given_event).check_in
    assert given_check_in is not None
    assert given_check_in.observed_at == datetime(2026, 10, 30, 16, tzinfo=UTC)
    for decoder in (metrics_decode, notifications_decode):
        decoder(given_event)  # both consumers take it
    for bad in ("2026-10-30T16:00:00", "yesterday", 1_700_000_000, "2026-13-45T99:99:99Z"):
        with pytest.raises(UnprocessableEvent, match=r"data\.check_in\.observed_at"):
            goals.decode_goal_event(_observed(event, bad))


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _all_decoders(event: CloudEvent) -> None:
    """Each must return or raise UnprocessableEvent; anything else fails the test."""
    for decoder in (notifications_decode, metrics_decode if TOPIC_OF.get(
            EventType(event.type)) is Topic.GOALS else decode_rollup_event):
        with contextlib.suppress(UnprocessableEvent):
            decoder(event)


@EXAMPLES
@given(value=HOSTILE)
def test_a_hostile_value_in_any_field_is_decoded_or_unprocessable(value: Any) -> None:
    for sample in SAMPLES:
        for path in _paths(sample.data)[1:]:
            for remove in (False, True):
                document = copy.deepcopy(sample.data)
                parent = document
                for step in path[:-1]:
                    parent = parent[step]
                if remove and isinstance(parent, dict):
                    del parent[path[-1]]
                else:
                    parent[path[-1]] = value
                _all_decoders(dataclasses.replace(sample, data=document))


@EXAMPLES
@given(sample=st.sampled_from(SAMPLES), document=st.dictionaries(st.text(max_size=12), HOSTILE,
                                                                 max_size=6))
def test_any_hostile_data_is_decoded_or_unprocessable(sample: CloudEvent,
                                                      document: dict[str, Any]) -> None:
    _all_decoders(dataclasses.replace(sample, data=document))


def test_hostile_classes_are_refused_with_the_field_named() -> None:
    kr, objective = ge.new_id(), ge.new_id()
    cases: list[tuple[str, Any, str]] = [
        ("start", 10**400, "too large"), ("current", math.nan, "finite"),
        ("target", math.inf, "finite"), ("version", 10**30, "between"),
        ("version", True, "integer"), ("title", "x" * 100_000, "characters"),
        ("title", "lone \ud800 surrogate", "surrogate"), ("unit", "nul\x00", "NUL"),
        ("measure", "sideways", "one of"), ("confidence", 1.5, "at most"),
        ("last_checkin_at", "2026-11-02T09:30:00", "time zone"),
    ]
    for field, value, reason in cases:
        event = ge.key_result(kr, objective)
        event.data[field] = value
        with pytest.raises(UnprocessableEvent, match=f"data.{field} .*{reason}"):
            goals.decode_goal_event(event)



def test_parsed_events_are_still_refused_for_types_lengths_and_bounds() -> None:
    """A parsed event is ``text_checked`` (no NUL or lone surrogate anywhere), so its text
    fields skip those two tests only: every other check still holds."""
    kr, objective = ge.new_id(), ge.new_id()
    cases: list[tuple[str, str, Any, str]] = [
        ("key_result", "version", 10**30, "between"), ("key_result", "version", True, "integer"),
        ("key_result", "title", "x" * 100_000, "characters"),
        ("key_result", "title", 5, "a string"), ("key_result", "unit", "", None),
        ("key_result", "measure", "sideways", "one of"),
        ("key_result", "confidence", 1.5, "at most"),
        ("key_result", "last_checkin_at", "2026-11-02T09:30:00", "time zone"),
        ("check_in", "note", "n" * 2001, "characters"), ("check_in", "author", "", "characters"),
        ("check_in", "id", ["x"], "a string"),
    ]
    for part, field, value, reason in cases:
        event = ge.check_in(kr, objective, 2, 5.0)
        event.data[part][field] = value
        parsed = parse_event(event.to_json())
        assert parsed.text_checked
        if reason is None:  # within the contract (an empty unit): decoded
            assert goals.decode_goal_event(parsed).item.unit == value
            continue
        with pytest.raises(UnprocessableEvent, match=f"data.{part}.{field} .*{reason}"):
            goals.decode_goal_event(parsed)


# -- producers and sources ---------------------------------------------------------------------

def test_an_event_from_another_source_than_its_topics_producer_is_refused() -> None:
    for event in (ge.check_in(ge.new_id(), ge.new_id(), 2, 5.0),
                  nb.status_changed(ge.new_id(), "off_track")):
        forged = dataclasses.replace(event, source="/okr/intruder")
        with pytest.raises(UnprocessableEvent, match="does not publish"):
            notifications_decode(forged)
    with pytest.raises(UnprocessableEvent, match="does not publish"):
        metrics_decode(dataclasses.replace(ge.cycle(), source=SOURCE_OF[Topic.ROLLUPS]))


def test_an_event_type_of_another_topic_is_not_a_goal_event() -> None:
    rollup = nb.rollup_changed(ge.new_id(), "on_track")
    with pytest.raises(UnprocessableEvent, match=r"not an event of okr\.goals\.v1"):
        goals.decode_goal_event(rollup)


@settings(EXAMPLES, max_examples=15)
@given(data=st.data())
def test_the_rollup_producer_writes_what_its_decoder_reads_back(data: st.DataObject) -> None:
    event_type = data.draw(st.sampled_from(ROLLUP_TYPES))
    instance = data.draw(valid_data(event_type))
    change = decode(event_type, instance)
    assert isinstance(change, RollupChange)
    written = change.data(status_changed=event_type is EventType.OBJECTIVE_STATUS_CHANGED)
    _validator(event_type).validate(written)
    assert decode(event_type, written) == change
