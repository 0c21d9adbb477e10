"""Domain rules for objectives, key results, check-ins and the roll-up graph, without I/O."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from services.goals.domain.errors import InvalidInput
from services.goals.domain.goals import (
    Aggregation,
    CheckIn,
    CheckInSource,
    KeyResult,
    Measure,
    Objective,
    ObjectiveKind,
    ObjectiveStatus,
)
from services.goals.domain.graph import (
    Contribution,
    ItemType,
    Link,
    LinkKind,
    Node,
    pick_department,
    would_close_a_cycle,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _kr(**overrides: object) -> KeyResult:
    values: dict[str, object] = {"objective_id": "o", "title": "Revenue",
                                 "measure": Measure.INCREASE, "start": 0, "target": 100,
                                 "unit": "EUR"}
    values.update(overrides)
    return KeyResult.new(**values)  # type: ignore[arg-type]


def test_collective_objective_needs_two_departments_and_department_objective_one() -> None:
    with pytest.raises(InvalidInput, match="at least two"):
        Objective.new(cycle="q", kind=ObjectiveKind.COLLECTIVE, departments=["sales", "sales"],
                      owner="CEO", title="Grow")
    with pytest.raises(InvalidInput, match="exactly one"):
        Objective.new(cycle="q", kind=ObjectiveKind.DEPARTMENT,
                      departments=["sales", "marketing"], owner="Sam", title="Deals")
    target = Objective.new(cycle="q", kind=ObjectiveKind.COLLECTIVE,
                           departments=["sales", "marketing"], owner="CEO", title="Grow")
    assert target.departments == ["marketing", "sales"]
    assert target.department is None and target.is_owned_by("sales")


def test_archiving_an_objective_bumps_its_version() -> None:
    objective = Objective.new(cycle="q", kind=ObjectiveKind.DEPARTMENT, departments=["sales"],
                              owner="Sam", title="Deals")
    objective.change(status=ObjectiveStatus.ARCHIVED)
    assert (objective.status, objective.version) == (ObjectiveStatus.ARCHIVED, 2)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"target": 0}, "target"),  # target equal to start
        ({"target": -5}, "target"),  # an increase must go up
        ({"measure": Measure.DECREASE, "start": 10, "target": 20}, "target"),
        ({"weight": -1}, "weight"),
        ({"start": math.nan}, "start"),
        ({"target": math.inf}, "target"),
        ({"unit": " "}, "unit"),
        ({"start": None}, "start"),
        ({"measure": Measure.BOOLEAN, "aggregation": Aggregation.SUM}, "aggregation"),
    ],
)
def test_invalid_key_result_definitions_are_refused(overrides: dict[str, object],
                                                    field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        _kr(**overrides)
    assert error.value.field == field


def test_new_key_result_starts_at_its_start_value() -> None:
    key_result = _kr(measure=Measure.DECREASE, start=40, target=10, unit="days")
    assert (key_result.current, key_result.confidence, key_result.last_checkin_at) == (
        40.0, None, None)


def test_boolean_key_result_runs_from_zero_to_one_and_takes_only_those_values() -> None:
    key_result = _kr(measure=Measure.BOOLEAN, start=None, target=None, unit=None)
    assert (key_result.start, key_result.target) == (0.0, 1.0)
    with pytest.raises(InvalidInput):
        key_result.record_value(0.5, None, NOW)
    key_result.record_value(1, 0.9, NOW)
    assert (key_result.current, key_result.confidence, key_result.version) == (1.0, 0.9, 2)


def test_check_in_confidence_must_lie_between_zero_and_one() -> None:
    key_result = _kr()
    with pytest.raises(InvalidInput) as error:
        key_result.record_value(10, 1.5, NOW)
    assert error.value.field == "confidence"
    assert key_result.version == 1


def test_over_achievement_is_a_valid_check_in() -> None:
    key_result = _kr()
    key_result.record_value(150, 1.0, NOW)
    assert key_result.current == 150.0


def test_check_in_keeps_its_author_and_source() -> None:
    check_in = CheckIn.new(key_result_id="k", value=3, confidence=None, note=" crm ",
                           author="CRM sync", source=CheckInSource.SYSTEM)
    assert (check_in.note, check_in.source) == ("crm", CheckInSource.SYSTEM)


def _graph(edges: dict[Node, list[Node]]):  # type: ignore[no-untyped-def]
    return lambda node: edges.get(node, [])


def test_a_contribution_that_would_close_a_cycle_is_detected_through_several_levels() -> None:
    a, b, c = ((ItemType.OBJECTIVE, name) for name in "abc")
    kr = (ItemType.KEY_RESULT, "kr-of-a")
    parents = _graph({kr: [a], a: [b], b: [c]})
    assert would_close_a_cycle(c, kr, parents)  # c -> kr -> a -> b -> c
    assert would_close_a_cycle(c, a, parents)
    assert not would_close_a_cycle(a, c, parents)  # a shortcut is still acyclic


def test_a_shared_child_of_two_targets_is_not_a_cycle() -> None:
    child, left, right = ((ItemType.OBJECTIVE, name) for name in ("child", "left", "right"))
    parents = _graph({child: [left]})
    assert not would_close_a_cycle(child, right, parents)


def test_contribution_rules() -> None:
    objective, key_result = (ItemType.OBJECTIVE, "o"), (ItemType.KEY_RESULT, "k")
    with pytest.raises(InvalidInput, match="itself"):
        Contribution.new(child=objective, parent=objective, weight=1, created_by="x")
    with pytest.raises(InvalidInput, match="not a key result"):
        Contribution.new(child=objective, parent=key_result, weight=1, created_by="x")
    with pytest.raises(InvalidInput):
        Contribution.new(child=key_result, parent=objective, weight=-0.5, created_by="x")


def test_links_connect_two_departments_and_pick_one_of_a_collective_items_owners() -> None:
    source, target = (ItemType.OBJECTIVE, "s"), (ItemType.OBJECTIVE, "t")
    with pytest.raises(InvalidInput, match="different departments"):
        Link.new(kind=LinkKind.DEPENDS_ON, source=source, source_department="sales",
                 target=target, target_department="sales", note="", created_by="x")
    assert pick_department(["production"], None, "to_department") == "production"
    assert pick_department(["marketing", "sales"], "sales", "from_department") == "sales"
    with pytest.raises(InvalidInput, match="several departments"):
        pick_department(["marketing", "sales"], None, "from_department")
    with pytest.raises(InvalidInput, match="one of the item's departments"):
        pick_department(["marketing", "sales"], "finance", "from_department")
