"""The key-result table's ids (``IdColumn``) behave as a list of ids by row plus a dict from
id to row, whatever the ids: uuids as the goals service writes them (held as 16 bytes),
and anything else an event may carry (upper-case uuids, near-uuids, any text), through
puts, clears and the rows freed and given again, the slots growing and the marks of
removed ids reused."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from services.metrics.domain.ids import IdColumn

_uuids = st.uuids().map(str)
_ids = st.one_of(
    _uuids,
    _uuids.map(str.upper),
    _uuids.map(lambda text: text.replace("-", "")),
    _uuids.map(lambda text: text[:35] + " "),
    _uuids.map(lambda text: f" {text[1:]}"),
    _uuids.map(lambda text: text.replace("-", "\u2010", 1)),
    st.text(min_size=1, max_size=64),
    st.sampled_from(["0" * 36, "00000000-0000-0000-0000-000000000000", "kr-1", "ID"]),
)


class IdColumnAsListAndDict(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.column = IdColumn()
        self.rows: list[str] = []  # "": free
        self.numbers: dict[str, int] = {}

    held_ids = Bundle("held_ids")

    @rule(count=st.integers(min_value=1, max_value=20))
    def extend(self, count: int) -> None:
        self.column.extend(count)
        self.rows.extend([""] * count)

    @rule(target=held_ids, id_=_ids, data=st.data())
    def put(self, id_: str, data: st.DataObject) -> str:
        free = [number for number, held in enumerate(self.rows) if not held]
        if not free:
            self.extend(1)
            free = [len(self.rows) - 1]
        number = data.draw(st.sampled_from(free))
        if id_ in self.numbers:
            with pytest.raises(ValueError):
                self.column.put(number, id_)
        else:
            self.column.put(number, id_)
            self.rows[number], self.numbers[id_] = id_, number
        return id_

    @rule(id_=held_ids)
    def clear(self, id_: str) -> None:
        number = self.numbers.pop(id_, None)
        if number is not None:
            self.column.clear(number)
            self.rows[number] = ""

    @rule(id_=held_ids)
    def put_on_a_held_row(self, id_: str) -> None:
        number = self.numbers.get(id_)
        if number is not None:
            with pytest.raises(ValueError):
                self.column.put(number, str(uuid.uuid4()))

    @invariant()
    def same_as_the_list_and_the_dict(self) -> None:
        assert len(self.column) == len(self.rows)
        assert self.column.held == len(self.numbers)
        assert [self.column[number] for number in range(len(self.rows))] == self.rows
        assert list(self.column.numbers()) == [n for n, held in enumerate(self.rows) if held]
        for id_, number in self.numbers.items():
            assert self.column.number(id_) == number and id_ in self.column


TestIdColumnAsListAndDict = IdColumnAsListAndDict.TestCase
TestIdColumnAsListAndDict.settings = settings(max_examples=150, stateful_step_count=60,
                                              deadline=None)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ids, unique=True, max_size=200), st.lists(_ids, max_size=50))
def test_an_id_not_held_is_found_nowhere(held: list[str], others: list[str]) -> None:
    column = IdColumn()
    column.extend(len(held))
    column.put_many(0, held)
    for id_ in others:
        assert (column.number(id_) is None) == (id_ not in held)
    for number, id_ in enumerate(held):
        assert column.number(id_) == number and column[number] == id_


def test_many_ids_removed_and_added_again_keep_the_slots_from_filling_with_marks() -> None:
    column = IdColumn()
    column.extend(64)
    for round_ in range(200):  # 64 rows, each id cleared and a new one put, again and again
        for number in range(64):
            column.clear(number)
            column.put(number, str(uuid.UUID(int=round_ * 64 + number)))
    assert column.held == 64
    assert column.number(str(uuid.UUID(int=199 * 64 + 5))) == 5
    assert column.number(str(uuid.UUID(int=5))) is None
    assert len(column._slots) <= 1024  # removals' marks were swept, not piled up
