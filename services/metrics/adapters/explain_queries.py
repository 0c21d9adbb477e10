"""The explanation of an objective from the read model (``GET /v1/rollups/{id}/explain``).

The subtree is read level by level (a few statements per level, on indexed columns: on
PostgreSQL one ``= ANY(array)`` per lookup, whose one parameter keeps the statement short
and the same whatever the count; elsewhere ``IN (...)`` lists of :data:`CHUNK`), so the
cost follows the size of the subtree, not of the read model; the
figures are those the consumer wrote, and the explanation is the one the consumer puts on
its events (``domain/explain.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from services.metrics.adapters import tables
from services.metrics.domain.explain import Explanation, Item, LinkEnd, explain, walk
from services.metrics.domain.explain_graph import UNKNOWN_DEPARTMENT, cycle_end, cycle_start
from services.metrics.domain.goal_items import Aggregation, Measure
from services.metrics.domain.status import CycleWindow, expected_progress
from shared.clock import Clock, system_clock

CHUNK = 500
_MEASURES = {measure.value: measure for measure in Measure}
_K = tables.key_results
KEY_RESULT_COLUMNS = (_K.c.id, _K.c.objective_id, _K.c.title, _K.c.measure,
                      _K.c.aggregation, _K.c.start, _K.c.target, _K.c.weight, _K.c.value,
                      _K.c.progress, _K.c.last_checkin_at, _K.c.pace)
"""What an explanation reads of a key result (not its window: the consumer keeps its pace)."""


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start:start + CHUNK]


def _among(connection: Connection, column: Any, ids: Iterable[str]
           ) -> Iterator[ColumnElement[bool]]:
    """Conditions that together select the rows whose ``column`` is one of ``ids``: on
    PostgreSQL one ``column = ANY(:ids)`` (the statement is the same whatever the count,
    so it is compiled and parsed once); elsewhere an ``IN`` list per :data:`CHUNK` ids."""
    if connection.dialect.name == "postgresql":
        ordered = sorted(ids)
        if ordered:
            yield column == any_(bindparam("ids", ordered, type_=ARRAY(column.type)))
        return
    for chunk in _chunks(ids):
        yield column.in_(chunk)


class ExplainQueries:
    def __init__(self, engine: Engine, stale_after_seconds: float,
                 clock: Clock = system_clock) -> None:
        self.engine = engine
        self.stale_after = stale_after_seconds
        self.clock = clock

    def explain(self, objective_id: str) -> tuple[Row[Any], Explanation] | None:
        """(the objective's row, its explanation), or None if the read model lacks it."""
        with self.engine.connect() as connection:
            objective = connection.execute(select(tables.objectives).where(
                tables.objectives.c.id == objective_id)).first()
            if objective is None:
                return None
            return objective, explain_row(connection, objective, self.clock(),
                                          self.stale_after)


def explain_row(connection: Connection, objective: Row[Any], now: datetime,
                stale_after: float) -> Explanation:
    """The explanation of the objective whose ``objectives`` row this is, at ``now``."""
    root = _Subtree(connection).load(objective)
    cycle = connection.execute(select(tables.cycles).where(
        tables.cycles.c.key == objective.cycle)).first()
    expected = end = None
    if cycle is not None:
        window = CycleWindow(_date(cycle.starts_on), _date(cycle.ends_on))
        expected, end = expected_progress(window, now), cycle_end(window)
    items = list(walk(root))
    links = list(_link_ends(connection, items))
    return explain(root, expected, end, now.timestamp(), links, stale_after, items)


class _Subtree:
    """Items of one objective's subtree, read level by level."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.items: dict[str, Item] = {}
        self.departments: dict[str, tuple[str, ...]] = {}  # objective id -> departments
        self.cycle_of: dict[str, str] = {}  # objective id -> cycle key
        self.cycle_starts = {row.key: cycle_start(CycleWindow(_date(row.starts_on),
                                                               _date(row.ends_on)))
                             for row in connection.execute(select(tables.cycles))}

    def load(self, root_row: Row[Any]) -> Item:
        root = self._objective(root_row)
        objectives: list[str] = [root_row.id]
        key_results: list[str] = []
        while objectives or key_results:
            own = self._key_results_of(objectives)
            parents = objectives + key_results + [item.id for item in own]
            objectives, key_results = self._contributions_into(parents)
        _drop_cycles(root)
        return root

    def _objective(self, row: Row[Any]) -> Item:
        departments = tuple(row.departments.split("+"))
        self.departments[row.id] = departments
        self.cycle_of[row.id] = row.cycle
        item = Item("objective", row.id, row.title, departments, row.progress, row.status)
        self.items[f"objective:{row.id}"] = item
        return item

    def _key_result(self, row: Any) -> Item:
        item = Item("key_result", row.id, row.title,
                    self.departments.get(row.objective_id, (UNKNOWN_DEPARTMENT,)),
                    row.progress, measure=_MEASURES[row.measure], start=row.start,
                    target=row.target, value=row.value,
                    sums=row.aggregation == Aggregation.SUM.value,
                    last_checkin_at=row.last_checkin_at, pace=row.pace,
                    cycle_start=self.cycle_starts.get(self.cycle_of.get(row.objective_id, "")))
        self.items[f"key_result:{row.id}"] = item
        return item

    def _key_results_of(self, objective_ids: list[str]) -> list[Item]:
        k = tables.key_results
        found = []
        for among in _among(self.connection, k.c.objective_id, objective_ids):
            for row in self.connection.execute(select(*KEY_RESULT_COLUMNS).where(among)):
                # one item per key result, were it read already as a contributor (its
                # contributions are read then, and not again)
                item = self.items.get(f"key_result:{row.id}")
                if item is None:
                    item = self._key_result(row)
                    found.append(item)
                self.items[f"objective:{row.objective_id}"].inputs.append((row.weight, item))
        return found

    def _contributions_into(self, parent_ids: list[str]) -> tuple[list[str], list[str]]:
        """Connect the contributions into these parents; return the children new to the
        subtree (objective ids, key result ids)."""
        c = tables.contributions
        edges: list[Row[Any]] = []
        for among in _among(self.connection, c.c.parent_id, set(parent_ids)):
            edges.extend(self.connection.execute(select(c).where(among)))
        wanted_objectives = {e.child_id for e in edges if e.child_type == "objective"
                             and e.parent_type == "objective"
                             and f"objective:{e.child_id}" not in self.items}
        wanted_key_results = {e.child_id for e in edges if e.child_type == "key_result"
                              and f"key_result:{e.child_id}" not in self.items}
        new_objectives = self._rows(tables.objectives, wanted_objectives)
        for row in new_objectives:
            self._objective(row)
        new_key_results = self._rows(tables.key_results, wanted_key_results,
                                     KEY_RESULT_COLUMNS)
        self._learn_departments({row.objective_id for row in new_key_results})
        for row in new_key_results:
            self._key_result(row)
        for edge in edges:
            parent = self.items.get(f"{edge.parent_type}:{edge.parent_id}")
            child = self.items.get(f"{edge.child_type}:{edge.child_id}")
            if parent is None or child is None:
                continue
            if parent.type == "objective" or child.type == "key_result":
                parent.inputs.append((edge.weight, child))
        return [row.id for row in new_objectives], [row.id for row in new_key_results]

    def _rows(self, table: Any, ids: set[str], columns: Any = None) -> list[Row[Any]]:
        rows: list[Row[Any]] = []
        for among in _among(self.connection, table.c.id, ids):
            query = select(*columns) if columns is not None else select(table)
            rows.extend(self.connection.execute(query.where(among)))
        return rows

    def _learn_departments(self, objective_ids: set[str]) -> None:
        o = tables.objectives
        missing = objective_ids - self.departments.keys()
        for among in _among(self.connection, o.c.id, missing):
            for row in self.connection.execute(select(o.c.id, o.c.departments, o.c.cycle)
                                               .where(among)):
                self.departments[row.id] = tuple(row.departments.split("+"))
                self.cycle_of[row.id] = row.cycle


def _drop_cycles(root: Item) -> None:
    """Leave out the edges that close a cycle (the consumer holds them inactive until a
    removal opens it again), so the subtree is the graph the roll-up counts."""
    state: dict[int, int] = {}  # id(item) -> 1 on the path, 2 done
    stack: list[tuple[Item, int]] = [(root, 0)]
    state[id(root)] = 1
    while stack:
        item, position = stack.pop()
        if position < len(item.inputs):
            stack.append((item, position + 1))
            child = item.inputs[position][1]
            held = state.get(id(child))
            if held == 1:
                item.inputs.pop(position)  # not counted, not walked
                stack[-1] = (item, position)
            elif held is None:
                state[id(child)] = 1
                stack.append((child, 0))
        else:
            state[id(item)] = 2


def _link_ends(connection: Connection, items: list[Item]) -> Iterator[LinkEnd]:
    link, o, k = tables.links, tables.objectives, tables.key_results
    ids = {item.id: item for item in items}
    rows: dict[str, Row[Any]] = {}
    for column in (link.c.from_id, link.c.to_id):  # each on its index (no OR)
        for among in _among(connection, column, ids):
            for row in connection.execute(select(link).where(among)):
                rows[row.id] = row
    ends: list[tuple[Row[Any], Item, bool, tuple[str, str, str]]] = []
    for row in sorted(rows.values(), key=lambda r: r.id):
        this = ids.get(row.from_id)
        outgoing = this is not None and this.type == row.from_type
        if not outgoing:
            this = ids.get(row.to_id)
            if this is None or this.type != row.to_type:
                continue
        assert this is not None
        other = ((row.to_type, row.to_id, row.to_department) if outgoing
                 else (row.from_type, row.from_id, row.from_department))
        ends.append((row, this, outgoing, other))
    figures: dict[tuple[str, str], tuple[str | None, float | None, str | None]] = {}
    wanted_objectives = {other[1] for *_, other in ends if other[0] == "objective"}
    for among in _among(connection, o.c.id, wanted_objectives):
        for row in connection.execute(select(o.c.id, o.c.title, o.c.progress, o.c.status)
                                      .where(among)):
            figures[("objective", row.id)] = (row.title, row.progress, row.status)
    wanted_key_results = {other[1] for *_, other in ends if other[0] == "key_result"}
    for among in _among(connection, k.c.id, wanted_key_results):
        for row in connection.execute(select(k.c.id, k.c.title, k.c.progress, o.c.status)
                                      .outerjoin(o, o.c.id == k.c.objective_id)
                                      .where(among)):
            figures[("key_result", row.id)] = (row.title, row.progress, row.status)
    for row, this, outgoing, (other_type, other_id, department) in ends:
        title, progress, status = figures.get((other_type, other_id), (None, None, None))
        yield LinkEnd(row.id, row.kind, "outgoing" if outgoing else "incoming", this.type,
                      this.id, other_type, other_id, department, title, progress, status)


def _date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
