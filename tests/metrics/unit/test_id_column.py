"""The key-result table's ids (``IdColumn``) behave as a list of ids by row plus a dict
from id to row (ids remembered as text or not), whatever the ids: uuids as the goals
service writes them (held as 16 bytes), and anything else an event may carry (upper-case
uuids, near-uuids, any text), through puts, clears and the rows freed and given again, the
slots growing and the marks of removed ids reused."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from services.metrics.domain import ids as ids_module
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


class IdColumnForgettingOften(IdColumnAsListAndDict):
    """The same, with room for three ids remembered as text: forgotten all at once again
    and again."""

    def __init__(self) -> None:
        self._recent_ids = ids_module.RECENT_IDS
        ids_module.RECENT_IDS = 3
        super().__init__()

    def teardown(self) -> None:
        ids_module.RECENT_IDS = self._recent_ids


TestIdColumnForgettingOften = IdColumnForgettingOften.TestCase
TestIdColumnForgettingOften.settings = settings(max_examples=100, stateful_step_count=60,
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


@pytest.mark.parametrize("held", [64, 4095, 4096, 5000])
def test_ids_removed_and_added_in_turn_make_the_slots_anew_rarely(held: int) -> None:
    """Whatever the number held (4,095 of 8,192 slots is one short of half full), removing
    and adding ids in turn makes the slots anew at most once every ``held / 2`` changes, and
    the removed ids' marks never fill them."""
    column = IdColumn()
    column.extend(held)
    column.put_many(0, [str(uuid.UUID(int=number)) for number in range(held)])
    made_anew, changes = 0, 4 * held
    for change in range(changes):
        slots = column._slots
        column.clear(change % held)
        column.put(change % held, str(uuid.UUID(int=held + change)))
        made_anew += column._slots is not slots
    assert made_anew <= 2 * changes // held + 1
    assert column.held == held and len(column._slots) <= 8 * held
    assert column.number(str(uuid.UUID(int=held + changes - 1))) == (changes - 1) % held
    assert column.number(str(uuid.UUID(int=0))) is None
