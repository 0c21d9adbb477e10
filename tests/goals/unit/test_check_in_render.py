"""The hand-built check-in answer is byte for byte what its documented schema dumps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from services.goals.domain.goals import Aggregation, CheckIn, CheckInSource, KeyResult, Measure
from services.goals.entrypoints.api.check_ins import render, render_with_schema

numbers = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False) | st.integers(-10**6, 10**6)
confidences = st.none() | st.floats(min_value=0, max_value=1)
texts = st.text(max_size=40)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.just(UTC))


@st.composite
def applied_check_ins(draw: st.DrawFn) -> tuple[CheckIn, KeyResult]:
    measure = draw(st.sampled_from(list(Measure)))
    start, target = (100, 0) if measure is Measure.DECREASE else (0, 100)
    key_result = KeyResult.new(objective_id="o", title="t", measure=measure, start=start,
                               target=target, unit="EUR")
    key_result = replace(
        key_result, objective_id=draw(texts), title=draw(texts), start=draw(numbers),
        target=draw(numbers), unit=draw(texts),
        weight=draw(st.floats(min_value=0, max_value=1e6) | st.integers(0, 10)),
        aggregation=draw(st.sampled_from(list(Aggregation))),
        current=draw(numbers), confidence=draw(confidences),
        last_checkin_at=draw(st.none() | times), version=draw(st.integers(1, 10**9)),
        created_at=draw(times), updated_at=draw(times))
    check_in = CheckIn.new(key_result_id=key_result.id, value=0, confidence=None, note="",
                           author="a", source=CheckInSource.PERSON)
    check_in = replace(check_in, value=draw(numbers), confidence=draw(confidences),
                       note=draw(texts), author=draw(texts),
                       source=draw(st.sampled_from(list(CheckInSource))), created_at=draw(times))
    return check_in, key_result


@settings(max_examples=300, deadline=None)
@given(applied_check_ins())
def test_the_hand_built_answer_equals_the_schema_dump(applied: tuple[CheckIn, KeyResult]) -> None:
    check_in, key_result = applied
    assert render(check_in, key_result) == render_with_schema(check_in, key_result)


def test_an_applied_check_in_renders_as_the_schema_dumps() -> None:
    key_result = KeyResult.new(objective_id="o1", title="Revenue", measure=Measure.INCREASE,
                               start=0, target=10, unit="EUR")
    check_in = CheckIn.new(key_result_id=key_result.id, value=3, confidence=None, note="n",
                           author="crm", source=CheckInSource.SYSTEM)
    key_result.record_value(3.0, None, check_in.created_at)
    assert render(check_in, key_result) == render_with_schema(check_in, key_result)
