"""The explanation of an objective from the read model (``GET /v1/rollups/{id}/explain``).

The subtree comes in one statement: a recursive query walks the roll-up edges (an
objective's own key results and the contributions into each item, on their indexed
columns) from the objective down. So the number of statements and round trips is the same
whatever the size of the subtree, and the cost follows the subtree, not the read model.

What the consumer keeps of the objective (its ``outlook``: each department's part of the
roll-up, the attainment line, the dependencies at risk; ``domain/explain.py``'s ``Kept``)
gives the gap by department, the forecast, the dependencies at risk and why, so the
statement returns only what the rest of the explanation needs (:data:`_KEPT_SUBTREE`): the
objective's inputs, the key results that sum, are stale or whose pace the process must
judge (with the edges into the summing ones), and the others counted by estimator: tens of
rows for a subtree of a thousand items, and no link read. An objective with nothing kept
yet (a row written before the column existed), or only the first of its dependencies at
risk (written before they all were), is explained from its whole subtree
(:data:`_SUBTREE`: every edge with its child's figures, then the links from and to the
items reached with the figures of their other ends). Either way the figures are those the
consumer wrote, and the explanation is the one the consumer puts on its events.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, select, text

from services.metrics.adapters import tables
from services.metrics.adapters.kept_outlooks import decoded
from services.metrics.domain.explain import (
    Explanation,
    Item,
    Kept,
    LinkEnd,
    explain,
    explained,
    walk,
)
from services.metrics.domain.explain_graph import UNKNOWN_DEPARTMENT, cycle_end, cycle_start
from services.metrics.domain.goal_items import Aggregation, Measure
from services.metrics.domain.status import CycleWindow, expected_progress
from shared.clock import Clock, system_clock

_MEASURES = {measure.value: measure for measure in Measure}
_SUM = Aggregation.SUM.value

# Each roll-up edge out of an item ``s`` (child_type, child_id) with the child's figures:
# an objective's own key results (with the objective's departments and cycle), and the
# contributions into the item (with the contributing objective's or key result's figures).
# A contribution of an objective into a key result is not an edge (the roll-up does not
# count it).
_KEY_RESULT_EDGES = """
    SELECT k.id AS edge, 'objective' AS parent_type, k.objective_id AS parent_id,
           'key_result' AS child_type, k.id AS child_id, k.weight, 1 AS own,
           NULL AS objective_found, NULL AS objective_title, NULL AS departments,
           NULL AS objective_progress, NULL AS status,
           k.id AS key_result_found, k.title AS key_result_title, k.measure, k.aggregation,
           k.start, k.target, k.value, k.progress AS key_result_progress,
           k.last_checkin_at, k.pace, owner.departments AS owner_departments,
           owner.cycle AS owner_cycle
    FROM {s} key_results k LEFT JOIN objectives owner ON owner.id = k.objective_id
    WHERE s.child_type = 'objective' AND k.objective_id = s.child_id"""
_CONTRIBUTION_EDGES = """
    SELECT c.id, c.parent_type, c.parent_id, c.child_type, c.child_id, c.weight, 0,
           o.id, o.title, o.departments, o.progress, o.status,
           k.id, k.title, k.measure, k.aggregation, k.start, k.target, k.value, k.progress,
           k.last_checkin_at, k.pace, owner.departments, owner.cycle
    FROM {s} contributions c
    LEFT JOIN objectives o ON c.child_type = 'objective' AND o.id = c.child_id
    LEFT JOIN key_results k ON c.child_type = 'key_result' AND k.id = c.child_id
    LEFT JOIN objectives owner ON owner.id = k.objective_id
    WHERE c.parent_type = s.child_type AND c.parent_id = s.child_id
      AND (c.child_type = 'key_result' OR c.parent_type = 'objective')"""
_EDGE_COLUMNS = ("edge", "parent_type", "parent_id", "child_type", "child_id", "weight", "own",
                 "objective_found", "objective_title", "departments", "objective_progress",
                 "status", "key_result_found", "key_result_title", "measure", "aggregation",
                 "start", "target", "value", "key_result_progress", "last_checkin_at", "pace",
                 "owner_departments", "owner_cycle")
_LINK_COLUMNS = ("link_id", "link_kind", "from_type", "from_id", "from_department", "to_type",
                 "to_id", "to_department", "direction", "other_title", "other_progress",
                 "other_status")
_V, _F = "CAST(NULL AS VARCHAR)", "CAST(NULL AS FLOAT)"
# The recursion starts from a row of the root alone (typed as the edges are): from one row,
# PostgreSQL's planner guesses a small recursion (from the root's edges it guessed 25,000
# rows, a cost that made it compile the statement with JIT: 170 ms).
_ROOT = ", ".join([_V, _V, _V, "CAST('objective' AS VARCHAR)", "CAST(:root AS VARCHAR)", _F,
                   "CAST(NULL AS INTEGER)", _V, _V, _V, _F, _V, _V, _V, _V, _V,
                   _F, _F, _F, _F, _F, _F, _V, _V])
_EDGES_OUT_OF_S = {
    # On PostgreSQL, a LATERAL subquery: read index by index for each item reached,
    # whatever the planner guesses of the recursion's size (a plain join of the recursion
    # with the tables was planned as hash joins over every key result).
    "postgresql": f"""
    SELECT e.* FROM subtree s CROSS JOIN LATERAL (
        {_KEY_RESULT_EDGES.format(s='')}
        UNION ALL
        {_CONTRIBUTION_EDGES.format(s='')}
    ) e""",
    # SQLite has no LATERAL, but joins each recursive term index by index.
    "sqlite": f"""
    {_KEY_RESULT_EDGES.format(s="subtree s,")}
    UNION
    {_CONTRIBUTION_EDGES.format(s="subtree s,")}""",
}
_LINK = ("l.id, l.kind, l.from_type, l.from_id, l.from_department, l.to_type, l.to_id, "
         "l.to_department")
# The figures of a link's other end (``{end}``: ``to`` or ``from``): an objective's title,
# progress and status, a key result's title and progress with its objective's status.
_OTHER_END = """
        LEFT JOIN objectives oo ON l.{end}_type = 'objective' AND oo.id = l.{end}_id
        LEFT JOIN key_results ok ON l.{end}_type = 'key_result' AND ok.id = l.{end}_id
        LEFT JOIN objectives okowner ON okowner.id = ok.objective_id"""
# An archived other end (a key result's: its objective archived) is told with no status:
# it holds nothing back, so it is never a dependency at risk.
_OTHER_FIGURES = ("COALESCE(oo.title, ok.title), COALESCE(oo.progress, ok.progress), "
                  "CASE WHEN COALESCE(oo.archived, okowner.archived) THEN NULL "
                  "ELSE COALESCE(oo.status, okowner.status) END")
_NO_EDGE = ", ".join(["NULL"] * len(_EDGE_COLUMNS))
_NO_LINK = ", ".join(f"NULL AS {column}" for column in _LINK_COLUMNS)
_LINKS_OF_ITEMS = {  # the links from and to the items, each end on its index
    "postgresql": f"""
    SELECT {_NO_EDGE}, l.* FROM items i CROSS JOIN LATERAL (
        SELECT {_LINK}, 'outgoing', {_OTHER_FIGURES} FROM links l {_OTHER_END.format(end="to")}
        WHERE l.from_id = i.id AND l.from_type = i.type
        UNION ALL
        SELECT {_LINK}, 'incoming', {_OTHER_FIGURES} FROM links l {_OTHER_END.format(end="from")}
        WHERE l.to_id = i.id AND l.to_type = i.type
    ) l""",
    "sqlite": f"""
    SELECT {_NO_EDGE}, {_LINK}, 'outgoing', {_OTHER_FIGURES} FROM items i JOIN links l
      ON l.from_id = i.id AND l.from_type = i.type {_OTHER_END.format(end="to")}
    UNION ALL
    SELECT {_NO_EDGE}, {_LINK}, 'incoming', {_OTHER_FIGURES} FROM items i JOIN links l
      ON l.to_id = i.id AND l.to_type = i.type {_OTHER_END.format(end="from")}""",
}
# The subtree of the objective :root in one statement: its edges (out of the root, then out
# of every child reached, each edge once (UNION), so a shared child is walked once and a
# cycle ends), then the links from and to its items (a link with both ends in the subtree
# twice, once from each end, as the consumer tells it).
_SUBTREE = {dialect: f"""
WITH RECURSIVE subtree({", ".join(_EDGE_COLUMNS)}) AS (
    SELECT {_ROOT}
    UNION
    {_EDGES_OUT_OF_S[dialect]}
),
items(type, id) AS (SELECT DISTINCT child_type, child_id FROM subtree)
SELECT *, {_NO_LINK} FROM subtree WHERE edge IS NOT NULL
UNION ALL
{_LINKS_OF_ITEMS[dialect]}
""" for dialect in ("postgresql", "sqlite")}


def _subtree(connection: Connection) -> str:
    return _SUBTREE["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]


# -- from the kept outlook -----------------------------------------------------------------------

# How the pace of a key result reached is told (``explain.estimator_of``), as far as its row
# tells it: "sum" (a summing key result: its breakdown instead), "check" (no pace kept: the
# process tries its cycle-to-date pace), NULL for an objective. Its ``stale`` flag keeps a
# second of margin under the limit; the process tells staleness exactly.
_CLASS = f"""CASE WHEN k.id IS NULL THEN NULL WHEN k.aggregation = '{_SUM}' THEN 'sum'
    WHEN k.measure = '{Measure.BOOLEAN.value}' THEN 'as_it_stands'
    WHEN k.last_checkin_at IS NULL OR k.value IS NULL THEN 'none'
    WHEN k.pace IS NOT NULL THEN 'least_squares' ELSE 'check' END"""
_STALE = f"""CASE WHEN k.id IS NOT NULL AND k.aggregation <> '{_SUM}' AND (k.last_checkin_at
    IS NULL OR k.last_checkin_at < :stale_before) THEN 1 ELSE 0 END"""
_COUNTED = ("as_it_stands", "none", "least_squares")  # counted by the statement unless stale
_KEPT_COLUMNS = ("edge", "parent_type", "parent_id", "child_type", "child_id", "weight",
                 "class", "stale")
_KEPT_KEY_RESULT_EDGES = f"""
    SELECT k.id AS edge, 'objective' AS parent_type, k.objective_id AS parent_id,
           'key_result' AS child_type, k.id AS child_id, k.weight,
           {_CLASS} AS class, {_STALE} AS stale
    FROM {{s}} key_results k
    WHERE s.child_type = 'objective' AND k.objective_id = s.child_id"""
# Walked on only into the items the read model holds (as the whole subtree's items are).
_KEPT_CONTRIBUTION_EDGES = f"""
    SELECT c.id, c.parent_type, c.parent_id, c.child_type, c.child_id, c.weight,
           {_CLASS}, {_STALE}
    FROM {{s}} contributions c
    LEFT JOIN objectives o ON c.child_type = 'objective' AND o.id = c.child_id
    LEFT JOIN key_results k ON c.child_type = 'key_result' AND k.id = c.child_id
    WHERE c.parent_type = s.child_type AND c.parent_id = s.child_id
      AND (c.child_type = 'key_result' OR c.parent_type = 'objective')
      AND (o.id IS NOT NULL OR k.id IS NOT NULL)"""
_KEPT_EDGES_OUT_OF_S = {
    "postgresql": f"""
    SELECT e.* FROM subtree s CROSS JOIN LATERAL (
        {_KEPT_KEY_RESULT_EDGES.format(s='')}
        UNION ALL
        {_KEPT_CONTRIBUTION_EDGES.format(s='')}
    ) e""",
    "sqlite": f"""
    {_KEPT_KEY_RESULT_EDGES.format(s="subtree s,")}
    UNION
    {_KEPT_CONTRIBUTION_EDGES.format(s="subtree s,")}""",
}
# Every row of the answer: its kind, seven texts, six numbers (each kind's below).
_TEXTS, _NUMBERS = 7, 6


def _row(kind: str, texts: list[str], numbers: list[str]) -> str:
    return ", ".join([f"'{kind}'", *texts, *[_V] * (_TEXTS - len(texts)), *numbers,
                      *[_F] * (_NUMBERS - len(numbers))])


_KEPT_ROOT = ", ".join([_V, _V, _V, "CAST('objective' AS VARCHAR)", "CAST(:root AS VARCHAR)",
                        _F, _V, "CAST(0 AS INTEGER)"])
_KEY_RESULT_TEXTS = ["k.id", "k.title", "owner.departments", "k.measure", "owner.cycle",
                     "k.aggregation"]
_KEY_RESULT_NUMBERS = ["k.value", "k.start", "k.target", "k.last_checkin_at", "k.pace",
                       "k.progress"]
# The subtree of the objective :root (walked as :data:`_SUBTREE` walks it), told in rows of
# four kinds: "input" (each edge out of the objective, with its child's title,
# departments and progress), "key_result" (a key result that sums, is stale or whose
# estimator the process tells), "estimator" (how many of the others each estimator
# tells) and "sum_edge" (an edge into a summing key result, with the contributor's
# figures). The dependencies at risk are kept with the outlook.
_KEPT_SUBTREE = {dialect: f"""
WITH RECURSIVE subtree({", ".join(_KEPT_COLUMNS)}) AS (
    SELECT {_KEPT_ROOT}
    UNION
    {_KEPT_EDGES_OUT_OF_S[dialect]}
),
items(type, id, class, stale) AS (SELECT DISTINCT child_type, child_id, class, stale
                                  FROM subtree)
SELECT {_row("input", ["s.child_type", "s.child_id", "COALESCE(o.title, k.title)",
                       "COALESCE(o.departments, owner.departments)"],
             ["s.weight", "COALESCE(o.progress, k.progress)"])}
FROM subtree s
LEFT JOIN objectives o ON s.child_type = 'objective' AND o.id = s.child_id
LEFT JOIN key_results k ON s.child_type = 'key_result' AND k.id = s.child_id
LEFT JOIN objectives owner ON owner.id = k.objective_id
WHERE s.parent_type = 'objective' AND s.parent_id = :root
  AND NOT (s.child_type = 'objective' AND s.child_id = :root)
UNION ALL
SELECT {_row("key_result", _KEY_RESULT_TEXTS, _KEY_RESULT_NUMBERS)}
FROM items i JOIN key_results k ON k.id = i.id
LEFT JOIN objectives owner ON owner.id = k.objective_id
WHERE i.type = 'key_result' AND (i.class IN ('sum', 'check') OR i.stale = 1)
UNION ALL
SELECT {_row("estimator", ["i.class"], ["CAST(COUNT(*) AS FLOAT)"])}
FROM items i
WHERE i.type = 'key_result' AND i.class IN {_COUNTED} AND i.stale = 0
GROUP BY i.class
UNION ALL
SELECT {_row("sum_edge", [*_KEY_RESULT_TEXTS, "s.parent_id"],
             [*_KEY_RESULT_NUMBERS[:-1], "s.weight"])}
FROM subtree s JOIN key_results k ON k.id = s.child_id
LEFT JOIN objectives owner ON owner.id = k.objective_id
WHERE s.parent_type = 'key_result' AND s.child_type = 'key_result'
""" for dialect in ("postgresql", "sqlite")}


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
    windows = {row.key: CycleWindow(_date(row.starts_on), _date(row.ends_on))
               for row in connection.execute(select(tables.cycles))}
    expected = end = None
    window = windows.get(objective.cycle)
    if window is not None:
        expected, end = expected_progress(window, now), cycle_end(window)
    kept = decoded(objective.outlook)
    if kept is not None and kept.all_risks:
        return _explained_from_kept(connection, objective, kept, windows, expected, end,
                                    now.timestamp(), stale_after)
    root, link_rows = _subtree_of(connection, objective, windows)
    items = list(walk(root))
    return explain(root, expected, end, now.timestamp(), list(_link_ends(link_rows, items)),
                   stale_after, items)


def _explained_from_kept(connection: Connection, objective: Row[Any], kept: Kept,
                         windows: dict[str, CycleWindow], expected: float | None,
                         end: float | None, now: float, stale_after: float) -> Explanation:
    """The explanation told from the objective's kept outlook and the rows of
    :data:`_KEPT_SUBTREE`."""
    cycle_starts = {key: cycle_start(window) for key, window in windows.items()}
    root = Item("objective", objective.id, objective.title,
                tuple(objective.departments.split("+")), objective.progress, objective.status)
    inputs: list[tuple[float, Item]] = []
    children: dict[tuple[str, str], Item] = {}
    key_results: dict[str, Item] = {}
    sum_edges: list[tuple[list[Any], tuple[Any, ...], float]] = []
    estimators: dict[str, int] = {}
    statement = _KEPT_SUBTREE["postgresql" if connection.dialect.name == "postgresql"
                              else "sqlite"]
    for kind, *texts, n1, n2, n3, n4, n5, n6 in connection.execute(text(statement), {
            "root": objective.id, "stale_before": now - stale_after + 1.0}).all():
        if kind == "input":  # numbers: weight, progress
            child_type, child_id, title, departments = texts[:4]
            child = children.get((child_type, child_id))  # one item, however many edges
            if child is None:
                child = children[child_type, child_id] = Item(
                    child_type, child_id, title, _departments(departments), n2)
            inputs.append((n1, child))
        elif kind == "key_result":
            key_results[texts[0]] = _key_result(texts, (n1, n2, n3, n4, n5, n6), cycle_starts)
        elif kind == "estimator":
            estimators[texts[0]] = int(n1)
        else:  # "sum_edge": the contributor's figures, the edge's weight
            sum_edges.append((texts, (n1, n2, n3, n4, n5, None), n6))
    root.inputs = inputs
    summing = sorted((item for item in key_results.values() if item.sums),
                     key=lambda item: item.id)
    contributors = dict(key_results)
    for texts, numbers, weight in sum_edges:
        contributor = contributors.get(texts[0])
        if contributor is None:
            contributor = contributors[texts[0]] = _key_result(texts, numbers, cycle_starts)
        parent = contributors.get(texts[6])
        if parent is not None:
            parent.inputs.append((weight, contributor))
    # the contributors that close a cycle are left out, as the walk of the whole subtree
    # leaves them out (:func:`_drop_cycles`)
    _drop_cycles(Item("objective", "", "", (), None,
                      inputs=[(1.0, item) for item in summing]))
    return explained(kept, root, expected, end, now, stale_after, list(key_results.values()),
                     estimators)


def _departments(joined: str | None) -> tuple[str, ...]:
    return (UNKNOWN_DEPARTMENT,) if joined is None else tuple(joined.split("+"))


def _key_result(texts: list[Any], numbers: tuple[Any, ...],
                cycle_starts: dict[str, float]) -> Item:
    """A key result from a row's texts (id, title, owning departments, measure, owner's
    cycle, aggregation) and numbers (value, start, target, last check-in, pace, progress)."""
    key_result_id, title, departments, measure, cycle, aggregation = texts[:6]
    value, start, target, last_checkin_at, pace, progress = numbers
    return Item("key_result", key_result_id, title, _departments(departments), progress,
                None, _MEASURES[measure], start, target, value, aggregation == _SUM,
                last_checkin_at, pace, cycle_starts.get(cycle or ""))


def _subtree_of(connection: Connection, root_row: Row[Any], windows: dict[str, CycleWindow]
                ) -> tuple[Item, list[tuple[Any, ...]]]:
    """The objective's subtree as items (the edges that would close a cycle left out), and
    the links from and to them with their other ends' figures; from one statement. The
    rows are read by position (:data:`_EDGE_COLUMNS`, then :data:`_LINK_COLUMNS`): read by
    name, a thousand rows of 36 columns were the largest cost of building the items."""
    cycle_starts = {key: cycle_start(window) for key, window in windows.items()}
    departments_of: dict[str, tuple[str, ...]] = {}  # "a+b" -> ("a", "b"), shared

    def departments(joined: str) -> tuple[str, ...]:
        found = departments_of.get(joined)
        if found is None:
            found = departments_of[joined] = tuple(joined.split("+"))
        return found

    root = Item("objective", root_row.id, root_row.title, departments(root_row.departments),
                root_row.progress, root_row.status)
    items: dict[tuple[str, str], Item] = {("objective", root.id): root}
    edges: list[tuple[str, str, float, Item]] = []
    links: list[tuple[Any, ...]] = []
    for (edge, parent_type, parent_id, child_type, child_id, weight, _own, objective_found,
         objective_title, objective_departments, objective_progress, status,
         key_result_found, key_result_title, measure, aggregation, start, target, value,
         key_result_progress, last_checkin_at, pace, owner_departments, owner_cycle,
         *link) in connection.execute(text(_subtree(connection)), {"root": root.id}).all():
        if edge is None:
            links.append(tuple(link))
            continue
        child = items.get((child_type, child_id))
        if child is None:
            if child_type == "objective":
                if objective_found is None:
                    continue  # an edge to an item the read model does not hold
                child = Item("objective", child_id, objective_title,
                             departments(objective_departments), objective_progress, status)
            else:
                if key_result_found is None:
                    continue
                child = Item("key_result", child_id, key_result_title,
                             (UNKNOWN_DEPARTMENT,) if owner_departments is None
                             else departments(owner_departments),
                             key_result_progress, None, _MEASURES[measure], start, target,
                             value, aggregation == _SUM, last_checkin_at, pace,
                             cycle_starts.get(owner_cycle or ""))
            items[(child_type, child_id)] = child
        edges.append((parent_type, parent_id, weight, child))
    for parent_type, parent_id, weight, child in edges:
        parent = items.get((parent_type, parent_id))
        if parent is not None:
            parent.inputs.append((weight, child))
    _drop_cycles(root)
    return root, links


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
                if child.inputs:
                    state[id(child)] = 1
                    stack.append((child, 0))
                else:  # a leaf closes no cycle: done at once
                    state[id(child)] = 2
        else:
            state[id(item)] = 2


def _link_ends(rows: list[tuple[Any, ...]], items: list[Item]) -> Iterator[LinkEnd]:
    """Each link at each of its ends in the subtree (outgoing from one, incoming to the
    other), with the figures of its other end (from the statement: :data:`_OTHER_END`)."""
    ids = {(item.type, item.id): item for item in items}
    for (link_id, kind, from_type, from_id, from_department, to_type, to_id, to_department,
         direction, title, progress, status) in sorted(rows, key=lambda r: (r[0], r[8])):
        outgoing = direction == "outgoing"
        start, end = (from_type, from_id), (to_type, to_id)
        this = ids.get(start if outgoing else end)
        if this is None or (not outgoing and start == end):
            continue  # not an item of the subtree's; a link to itself counts once, outgoing
        other_type, other_id, department = ((to_type, to_id, to_department) if outgoing
                                            else (from_type, from_id, from_department))
        yield LinkEnd(link_id, kind, direction, this.type, this.id, other_type, other_id,
                      department, title, progress, status)


def _date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
