"""The published JSON Schemas describe exactly what the goals domain emits (no I/O here)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from services.goals.domain.goals import (
    CheckIn,
    CheckInSource,
    KeyResult,
    Measure,
    Objective,
    ObjectiveKind,
    ObjectiveStatus,
)
from services.goals.domain.graph import Contribution, ItemType, Link, LinkKind
from services.goals.domain.reference_data import Cycle, Department
from shared.cloudevents import InvalidEvent
from shared.contract import TOPIC_OF, EventType, Topic
from shared.contract.schemas import (
    DOCUMENTED_EVENT_TYPES,
    InvalidEventData,
    UndocumentedEventType,
    schema_for,
    validate_event_data,
)

#: The domain class whose ``state()`` is the ``data`` of each event type (by item kind).
ITEM_CLASS: dict[str, type] = {
    "objective": Objective, "key_result": KeyResult, "contribution": Contribution,
    "link": Link, "department": Department, "cycle": Cycle,
}
GOALS_TYPES = sorted(t for t, topic in TOPIC_OF.items() if topic is Topic.GOALS)
AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


#: Fields added within v1 (docs/events.md, Versioning): the producer always writes them, but
#: events written before they existed lack them, so the schemas leave them optional.
ADDED_WITHIN_V1 = {"observed_at"}


def _field_names(cls: type) -> set[str]:
    return {field.name for field in dataclasses.fields(cls)}


def _item_schemas(event_type: EventType) -> list[tuple[type, dict[str, Any]]]:
    schema = schema_for(event_type)
    assert schema is not None
    if event_type is EventType.KEY_RESULT_CHECKED_IN:
        return [(CheckIn, schema["$defs"]["CheckIn"]), (KeyResult, schema["$defs"]["KeyResult"])]
    return [(ITEM_CLASS[event_type.value.split(".")[1]], schema)]


def test_every_goals_event_type_and_no_other_is_documented() -> None:
    assert sorted(DOCUMENTED_EVENT_TYPES) == GOALS_TYPES
    shipped = {entry.name for entry in resources.files("shared.contract.schemas").iterdir()
               if entry.name.endswith(".json")}
    rollup_types = [t for t, topic in TOPIC_OF.items() if topic is Topic.ROLLUPS]
    notification_types = [t for t, topic in TOPIC_OF.items() if topic is Topic.NOTIFICATIONS]
    assert shipped == {f"{event_type.value}.json"
                       for event_type in GOALS_TYPES + rollup_types + notification_types}
    assert schema_for("okr.unknown.happened") is None


@pytest.mark.parametrize("event_type", GOALS_TYPES, ids=str)
def test_schema_is_valid_draft_2020_12_and_describes_every_emitted_field(
    event_type: EventType
) -> None:
    schema = schema_for(event_type)
    assert schema is not None
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{event_type.value}.json")
    for cls, item_schema in _item_schemas(event_type):
        assert set(item_schema["properties"]) == _field_names(cls), cls
        assert set(item_schema["required"]) == _field_names(cls) - ADDED_WITHIN_V1, cls
        assert all(prop.get("type") or prop.get("$ref")
                   for prop in item_schema["properties"].values())


def _states() -> dict[EventType, list[dict[str, Any]]]:
    """Real ``data`` as the domain produces it, for each event type."""
    department = Department.new("sales", "Sales")
    renamed = Department.new("sales", "Sales")
    renamed.rename("Sales EMEA")
    cycle = Cycle.new("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
    objective = Objective.new(cycle="2026-Q4", kind=ObjectiveKind.DEPARTMENT,
                              departments=["sales"], owner="Sam", title="Win")
    collective = Objective.new(cycle="2026-Q4", kind=ObjectiveKind.COLLECTIVE,
                               departments=["sales", "marketing"], owner="CEO", title="Grow")
    collective.change(status=ObjectiveStatus.ARCHIVED, description="")
    increase = KeyResult.new(objective_id=objective.id, title="Revenue",
                             measure=Measure.INCREASE, start=0, target=100, unit="EUR")
    boolean = KeyResult.new(objective_id=collective.id, title="Launch", measure=Measure.BOOLEAN,
                            start=None, target=None, unit=None, weight=0)
    check_in = CheckIn.new(key_result_id=increase.id, value=40, confidence=0.5, note="",
                           author="crm", source=CheckInSource.SYSTEM)
    increase.record_value(40, 0.5, check_in.created_at)
    contribution = Contribution.new(child=(ItemType.KEY_RESULT, increase.id),
                                    parent=(ItemType.KEY_RESULT, boolean.id), weight=2,
                                    created_by="admin")
    link = Link.new(kind=LinkKind.FUNDED_BY, source=(ItemType.OBJECTIVE, objective.id),
                    source_department="sales", target=(ItemType.OBJECTIVE, collective.id),
                    target_department="marketing", note="", created_by="head of sales")
    items = {"department": [department, renamed], "cycle": [cycle],
             "objective": [objective, collective], "key_result": [increase, boolean],
             "contribution": [contribution], "link": [link]}
    states = {event_type: [item.state() for item in items[event_type.value.split(".")[1]]]
              for event_type in GOALS_TYPES if event_type is not EventType.KEY_RESULT_CHECKED_IN}
    states[EventType.KEY_RESULT_CHECKED_IN] = [
        {"check_in": check_in.state(), "key_result": increase.state()}]
    return states


@pytest.mark.parametrize("event_type", GOALS_TYPES, ids=str)
def test_domain_state_validates_against_its_schema(event_type: EventType) -> None:
    for data in _states()[event_type]:
        validate_event_data(event_type, data)


@pytest.mark.parametrize(("event_type", "change", "problem"), [
    (EventType.OBJECTIVE_CREATED, lambda d: d.pop("cycle"), "'cycle' is a required property"),
    (EventType.OBJECTIVE_UPDATED, lambda d: d.update(kind="team"), "$.kind"),
    (EventType.OBJECTIVE_CREATED, lambda d: d.update(departments=["sales", "marketing"]),
     "$.departments"),
    (EventType.OBJECTIVE_DELETED, lambda d: d.update(id="42"), "is not a 'uuid'"),
    (EventType.CYCLE_CREATED, lambda d: d.update(starts_on="2026-02-30"), "is not a 'date'"),
    (EventType.CYCLE_UPDATED, lambda d: d.update(updated_at="2026-11-02T09:30:00"),
     "$.updated_at"),
    (EventType.DEPARTMENT_CREATED, lambda d: d.update(updated_at="yesterday"),
     "is not a 'date-time'"),
    (EventType.DEPARTMENT_UPDATED, lambda d: d.update(version=0), "$.version"),
    (EventType.KEY_RESULT_CREATED, lambda d: d.update(confidence=1.5), "$.confidence"),
    (EventType.KEY_RESULT_UPDATED, lambda d: d.update(current="40"), "$.current"),
    (EventType.KEY_RESULT_CHECKED_IN, lambda d: d["check_in"].update(source="robot"),
     "$.check_in.source"),
    (EventType.KEY_RESULT_CHECKED_IN, lambda d: d.pop("key_result"), "'key_result'"),
    (EventType.CONTRIBUTION_ADDED, lambda d: d.update(weight=-1), "$.weight"),
    (EventType.LINK_CREATED, lambda d: d.update(kind="likes"), "$.kind"),
    (EventType.LINK_REMOVED, lambda d: d.update(to_department="Sales"), "$.to_department"),
])
def test_data_that_breaks_its_schema_is_refused_with_the_reason(
    event_type: EventType, change: Any, problem: str
) -> None:
    data = _states()[event_type][0]
    change(data)
    with pytest.raises(InvalidEventData) as raised:
        validate_event_data(event_type, data)
    assert problem in str(raised.value)
    assert str(raised.value).startswith(f"data of {event_type.value} does not match")
    assert isinstance(raised.value, InvalidEvent)  # a consumer dead-letters it


def test_new_optional_field_is_accepted_within_v1() -> None:
    data = _states()[EventType.LINK_CREATED][0]
    validate_event_data(EventType.LINK_CREATED, {**data, "priority": "high"})


def test_validating_an_undocumented_event_type_says_so() -> None:
    with pytest.raises(UndocumentedEventType, match=r"okr\.unknown\.happened"):
        validate_event_data("okr.unknown.happened", {})
