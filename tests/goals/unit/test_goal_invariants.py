"""The rules that guard goals, on every path that changes them, without I/O.

The sum rule (``domain/graph.py``), who may write an edge (``domain/permissions.py``) and a
key result's own rules after any change (``KeyResult.change``).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.goals.domain.access import Principal, Role
from services.goals.domain.errors import Conflict, DomainError, Forbidden, InvalidInput
from services.goals.domain.goals import Aggregation, KeyResult, Measure, Objective, ObjectiveKind
from services.goals.domain.graph import require_summable, require_sums_hold
from services.goals.domain.permissions import require_contribution_writer

ADMIN = Principal(name="ceo", role=Role.ADMIN)
SALES_HEAD = Principal(name="sam", role=Role.HEAD, department="sales")
VIEWER = Principal(name="val", role=Role.VIEWER)


def _kr(unit: str = "EUR", *, measure: Measure = Measure.INCREASE,
        aggregation: Aggregation = Aggregation.CHECK_INS) -> KeyResult:
    start, target = (100, 0) if measure is Measure.DECREASE else (0, 100)
    return KeyResult.new(objective_id="o", title="Revenue", measure=measure, start=start,
                         target=target, unit=unit, aggregation=aggregation)


def _objective(departments: str) -> Objective:
    keys = departments.split("+")
    kind = ObjectiveKind.COLLECTIVE if len(keys) > 1 else ObjectiveKind.DEPARTMENT
    return Objective.new(cycle="q", kind=kind, departments=keys, owner="o", title="t")


def test_a_sum_takes_key_results_of_its_own_unit_only() -> None:
    summing = _kr(aggregation=Aggregation.SUM)
    require_summable(summing, _kr())
    with pytest.raises(InvalidInput) as other_unit:
        require_summable(summing, _kr("USD"))
    assert other_unit.value.field == "child_id"
    with pytest.raises(InvalidInput) as boolean:
        require_summable(summing, _kr("EUR", measure=Measure.BOOLEAN))
    assert boolean.value.field == "child_id"
    with pytest.raises(InvalidInput) as not_a_sum:
        require_summable(_kr(), _kr())
    assert not_a_sum.value.field == "parent_id"


def test_a_change_the_existing_sums_cannot_follow_is_a_conflict() -> None:
    summing, feeding = _kr(aggregation=Aggregation.SUM), _kr()
    require_sums_hold(feeding, feeds=[summing], sums=[])
    feeding.change(unit="USD")
    with pytest.raises(Conflict, match="remove that contribution first"):
        require_sums_hold(feeding, feeds=[summing], sums=[])
    with pytest.raises(Conflict):
        require_sums_hold(summing, feeds=[], sums=[_kr(), feeding])
    require_sums_hold(feeding, feeds=[], sums=[])  # attached to nothing: any unit


# (child's departments, parent's departments, caller, may attach and so detach)
EDGES = [
    ("sales", "sales+marketing", SALES_HEAD, True),
    ("sales", "sales", SALES_HEAD, True),
    ("sales", "marketing+finance", SALES_HEAD, False),  # a target it does not co-own
    ("finance", "sales+marketing", SALES_HEAD, False),  # a child it does not own
    ("sales+marketing", "sales+marketing+finance", SALES_HEAD, False),  # collective child
    ("sales", "marketing+finance", ADMIN, True),
    ("sales", "sales", VIEWER, False),
]


@pytest.mark.parametrize(("child", "parent", "actor", "allowed"), EDGES)
def test_an_edge_is_removed_by_whoever_may_make_it(child: str, parent: str,
                                                   actor: Principal, allowed: bool) -> None:
    for action in ("attach contributions", "remove contributions"):
        if allowed:
            require_contribution_writer(actor, _objective(child), _objective(parent), action)
        else:
            with pytest.raises(Forbidden):
                require_contribution_writer(actor, _objective(child), _objective(parent),
                                            action)


NUMBER = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
CHANGES = st.fixed_dictionaries({}, optional={
    "start": NUMBER, "target": NUMBER, "weight": NUMBER,
    "unit": st.text(min_size=0, max_size=25), "title": st.text(min_size=0, max_size=210)})


@settings(max_examples=200, deadline=None)
@given(measure=st.sampled_from(Measure), changes=CHANGES)
def test_after_any_change_a_key_result_keeps_the_rules_of_its_creation(
    measure: Measure, changes: dict[str, object]
) -> None:
    key_result = _kr(measure=measure)
    before = key_result.state()
    try:
        key_result.change(**changes)  # type: ignore[arg-type]
    except DomainError:
        return
    rebuilt = KeyResult.new(objective_id="o", title=key_result.title, measure=measure,
                            start=key_result.start, target=key_result.target,
                            unit=key_result.unit, weight=key_result.weight)  # raises if broken
    assert (key_result.measure, key_result.aggregation) == (measure, Aggregation.CHECK_INS)
    assert key_result.current == rebuilt.current == key_result.start  # no check-in yet
    assert key_result.version == before["version"] + 1
