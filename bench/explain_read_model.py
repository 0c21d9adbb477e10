"""A metrics read model of N key results for the explain benchmark (``bench/explain.py``),
written straight into its tables: the read path is what is measured, so a million key
results are loaded in bulk (PostgreSQL ``COPY``, SQLite ``executemany``) rather than through
a million goal events, then ``ANALYZE``d as autovacuum would after such a load.

The shape is seeded, so every run builds the same read model:

* 8 cycles of 13 weeks up to the current one (60 days in at ``now``), 40 departments;
* the featured collective target of marketing and sales in the current cycle: 10
  department objectives (weights 1-3) of 5 key results, each with 9 team objectives of 10
  key results contributing to it, and a summing key result that the department
  objectives' first key results add up to (1,051 descendants); three of its department
  objectives are supplied by a production objective that is off track, one is funded by
  a finance objective at risk, and ten team key results depend on production key results;
* filler up to N key results, in every cycle and for pairs of departments: trees of a
  collective target, 3 department objectives contributing to it and 3 team objectives
  contributing to each (13 objectives of 5-10 key results), every 4th with a summing key
  result the department objectives' first key results add up to, and a link from a team
  objective to another department's objective;
* every key result with its window of weekly check-ins (``check_ins``, the newest 12) and
  the pace fitted to it (``forecast.pace``), one of 256 histories per cycle, direction and
  habit: 7 % stopped a few weeks ago (stale), and 5 % of the filler's were never checked
  in (which leaves their trees without a forecast); objectives' progress is the weighted
  mean of their inputs, their status from the gap to the cycle's expected progress;
* every objective's kept outlook (``objectives.outlook``: its departments' parts, its
  attainment line, its dependency most at risk), as the consumer writes it: the read
  model loaded into the consumer's graph, as a restart loads it, and each objective's
  outlook computed there (:func:`keep_outlooks`).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select

from services.metrics.adapters import tables
from services.metrics.adapters.read_model import ReadModelRepository, objective_row
from services.metrics.domain.explain_graph import (
    GraphItems,
    LinkIndex,
    cycle_end,
    cycle_start,
    kept_in_graph,
)
from services.metrics.domain.forecast import WINDOW, pace
from services.metrics.domain.rollup import RollupGraph
from services.metrics.domain.status import CycleWindow, expected_progress

DEPARTMENTS = ("sales", "marketing", "finance", "production",
               *(f"department-{n:02d}" for n in range(5, 41)))
CYCLES = 8
TEAMS, TEAM_KEY_RESULTS, DEPARTMENT_KEY_RESULTS = 9, 10, 5  # of the featured target
TARGET_DEPARTMENTS = 10
FLUSH_EVERY = 50_000  # key results held before they are written
VARIANTS = 256  # check-in histories per cycle, direction and habit
WEEK = 7 * 86_400.0

Row = tuple[Any, ...]
OBJECTIVE_COLUMNS = ("id", "version", "cycle", "kind", "departments", "title", "owner",
                     "archived", "progress", "attainment", "confidence", "status",
                     "updated_at")
KEY_RESULT_COLUMNS = ("id", "version", "objective_id", "title", "measure", "aggregation",
                      "start", "target", "unit", "weight", "checked_in", "given_confidence",
                      "last_checkin_at", "check_ins", "pace", "value", "progress",
                      "attainment", "confidence")
CONTRIBUTION_COLUMNS = ("id", "version", "child_type", "child_id", "parent_type",
                        "parent_id", "weight")
LINK_COLUMNS = ("id", "version", "kind", "from_type", "from_id", "from_department",
                "to_type", "to_id", "to_department")


@dataclass(frozen=True)
class Cycle:
    key: str
    window: CycleWindow
    expected: float  # expected progress at ``now``
    starts_at: float  # POSIX seconds
    ends_at: float


@dataclass(frozen=True)
class Featured:
    """Objectives worth explaining in the built read model, and what it holds."""

    target: str  # the collective target with 1,051 descendants
    department: str  # one of its department objectives (5 key results, 9 teams)
    team: str  # one of that one's team objectives (10 key results)
    filler_target: str  # a filler collective target of the current cycle
    counts: dict[str, int]


def cycles(now: datetime, count: int = CYCLES) -> list[Cycle]:
    """``count`` cycles of 13 weeks, oldest first, the last one 60 days in at ``now`` (so
    its key results have weeks of check-ins whatever the day of the run)."""
    found = []
    starts = now.date() - timedelta(days=60)
    for _ in range(count):
        window = CycleWindow(starts, starts + timedelta(days=90))
        found.append(Cycle(f"bench-{starts.isoformat()}", window,
                           expected_progress(window, now), cycle_start(window),
                           cycle_end(window)))
        starts -= timedelta(days=91)
    return found[::-1]


def _status(progress: float | None, expected: float) -> str | None:
    if progress is None:
        return None
    gap = expected - progress
    return "on_track" if gap <= 0.1 else "at_risk" if gap <= 0.25 else "off_track"


@dataclass
class _Rows:
    """The rows built and not yet written, by table."""

    objectives: list[Row] = field(default_factory=list)
    key_results: list[Row] = field(default_factory=list)
    contributions: list[Row] = field(default_factory=list)
    links: list[Row] = field(default_factory=list)


class _Builder:
    def __init__(self, key_results: int, now: datetime) -> None:
        self.rng = random.Random(15)
        self.now, self.moment = now, now.timestamp()
        self.cycles = cycles(now)
        self.current = self.cycles[-1]
        self.budget = key_results  # key results still to build
        self.all_checked_in = False  # no key result without a check-in (while True)
        self.windows: dict[tuple[str, bool, str], list[Any]] = {}  # pools of ``window``
        self.rows = _Rows()
        self.counts = {"objectives": 0, "key_results": 0, "contributions": 0, "links": 0}

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128)))

    # -- items ----------------------------------------------------------------------------

    def window(self, cycle: Cycle, decrease: bool, habit: str
               ) -> tuple[int, float | None, float | None, str | None, float | None, float]:
        """One of :data:`VARIANTS` check-in histories of a key result of ``cycle`` (habit:
        weekly, stale or never): (version, last value checked in, its time, the window as
        JSON, its pace, the value). Drawn from a pool: a million windows of their own
        would make the load slow, and the read path reads each row the same."""
        key = (cycle.key, decrease, habit)
        pool = self.windows.get(key)
        if pool is None:
            pool = self.windows[key] = [self._history(cycle, decrease, habit)
                                        for _ in range(VARIANTS)]
        return pool[self.rng.randrange(VARIANTS)]

    def _history(self, cycle: Cycle, decrease: bool, habit: str
                 ) -> tuple[int, float | None, float | None, str | None, float | None, float]:
        rng = self.rng
        start = 100.0 if decrease else 0.0
        last = min(self.moment, cycle.ends_at)
        if habit == "stale":  # stopped checking in 3-6 weeks ago
            last -= rng.randint(3, 6) * WEEK
        weekly = rng.uniform(2.0, 12.0) * (-1 if decrease else 1)
        window: list[tuple[float, float, int]] = []
        at, week = cycle.starts_at + 2 * 86_400.0, 0
        while habit != "never" and at <= last:
            week += 1
            window.append((at, round(start + weekly * week + rng.uniform(-3, 3), 2), week + 1))
            at += WEEK
        window = window[-WINDOW:]
        if not window:
            return 1, None, None, None, None, start
        return (week + 1, window[-1][1], window[-1][0], json.dumps(window), pace(window),
                window[-1][1])

    def key_result(self, oid: str, cycle: Cycle, kid: str | None = None,
                   increase: bool = False, pinned: float | None = None
                   ) -> tuple[str, float | None, float]:
        """A key result of ``oid`` with its check-ins: (id, progress, value); ``pinned``: a
        progress that one check-in early in the cycle brought it to (confident of it)."""
        rng, kid = self.rng, kid or self.new_id()
        decrease = not increase and rng.random() < 0.15
        start, target = (100.0, 0.0) if decrease else (0.0, 100.0)
        draw = rng.random()
        habit = ("never" if draw < 0.05 and not self.all_checked_in
                 else "stale" if draw < 0.12 else "weekly")
        version, checked_in, at, window, fitted, value = self.window(cycle, decrease, habit)
        confidence = round(rng.uniform(0.4, 0.95), 2)
        if pinned is not None:
            value = checked_in = start + pinned * (target - start)
            at, version, fitted, confidence = cycle.starts_at + 2 * 86_400.0, 2, None, 0.9
            window = json.dumps([(at, value, version)])
        progress = min(1.0, max(0.0, (value - start) / (target - start)))
        self.rows.key_results.append((
            kid, version, oid, f"key result {kid[:8]}", "decrease" if decrease else "increase",
            "check_ins", start, target, "points", 1.0, checked_in,
            None if at is None else confidence, at, window, fitted, value, progress,
            (value - start) / (target - start), confidence))
        self.budget -= 1
        self.counts["key_results"] += 1
        return kid, progress, value

    def summing_key_result(self, oid: str, parts: list[tuple[str, float]]) -> None:
        """A key result of ``oid`` that the key results ``parts`` (id, value) add up to."""
        kid = self.new_id()
        value, target = sum(v for _, v in parts), 100.0 * len(parts)
        self.rows.key_results.append((
            kid, 1, oid, f"sum {kid[:8]}", "increase", "sum", 0.0, target, "points", 1.0,
            None, None, None, None, None, value, min(1.0, value / target), value / target,
            None))
        for part, _ in parts:
            self.contribution("key_result", part, "key_result", kid, 1.0)
        self.budget -= 1
        self.counts["key_results"] += 1

    def objective(self, cycle: Cycle, departments: tuple[str, ...], key_results: int,
                  children: list[tuple[float, float | None]], oid: str | None = None,
                  increase_first: bool = False, pinned: float | None = None,
                  ) -> tuple[str, float | None, list[tuple[str, float]]]:
        """An objective with ``key_results`` of its own (fewer if the budget is spent) and
        ``children`` (weight, progress) already built, its key results ``pinned`` at that
        progress if given: (id, progress, [(its key result, value)])."""
        oid = oid or self.new_id()
        inputs = list(children)
        own = []
        for number in range(min(key_results, self.budget)):
            kid, progress, value = self.key_result(oid, cycle, increase=increase_first
                                                   and number == 0, pinned=pinned)
            inputs.append((1.0, progress))
            own.append((kid, value))
        counted = [(w, p) for w, p in inputs if p is not None and w > 0]
        progress = (sum(w * p for w, p in counted) / sum(w for w, _ in counted)
                    if counted else None)
        status = _status(progress, cycle.expected)
        kind = "collective" if len(departments) > 1 else "department"
        self.rows.objectives.append((
            oid, 1, cycle.key, kind, "+".join(sorted(departments)), f"objective {oid[:8]}",
            "bench", False, progress, progress, round(self.rng.uniform(0.4, 0.95), 2),
            status, self.now))
        self.counts["objectives"] += 1
        return oid, progress, own

    def contribution(self, child_type: str, child: str, parent_type: str, parent: str,
                     weight: float) -> None:
        self.rows.contributions.append((self.new_id(), 1, child_type, child, parent_type,
                                        parent, weight))
        self.counts["contributions"] += 1

    def link(self, kind: str, from_type: str, from_id: str, from_department: str,
             to_type: str, to_id: str, to_department: str) -> None:
        self.rows.links.append((self.new_id(), 1, kind, from_type, from_id, from_department,
                                to_type, to_id, to_department))
        self.counts["links"] += 1

    # -- the shapes -----------------------------------------------------------------------

    def tree(self, cycle: Cycle, departments: tuple[str, str], root: str | None, branches: int,
             teams: int, key_results: Callable[[], int], own: Callable[[], int],
             summing: bool) -> tuple[str, list[str], list[str]]:
        """A collective target of ``departments`` with ``branches`` department objectives
        of ``own()`` key results, each with ``teams`` team objectives of ``key_results()``:
        (the target's id, its department objectives' ids, their team objectives' ids)."""
        branch_ids, team_ids, branch_inputs, firsts = [], [], [], []
        for number in range(branches):
            department = departments[number % 2]
            team_inputs = []
            teams_here = []
            for _ in range(teams):
                tid, progress, _ = self.objective(cycle, (department,), key_results(), [])
                team_inputs.append((1.0, progress))
                teams_here.append(tid)
            bid, progress, krs = self.objective(cycle, (department,), own(), team_inputs,
                                                increase_first=True)
            for tid in teams_here:
                self.contribution("objective", tid, "objective", bid, 1.0)
            weight = 1.0 + number % 3
            branch_inputs.append((weight, progress))
            branch_ids.append(bid)
            team_ids.extend(teams_here)
            firsts.extend(krs[:1])
        rid, _, _ = self.objective(cycle, departments, 0, branch_inputs, oid=root)
        for number, bid in enumerate(branch_ids):
            self.contribution("objective", bid, "objective", rid, 1.0 + number % 3)
        if summing and firsts and self.budget > 0:
            self.summing_key_result(rid, firsts)
        return rid, branch_ids, team_ids

    def featured(self) -> tuple[str, str, str]:
        cycle, rng = self.current, self.rng
        # the dependencies the explanation reports at risk
        production, _, supplies = self.objective(cycle, ("production",), 5, [],
                                                 oid="production", pinned=0.1)
        finance, _, _ = self.objective(cycle, ("finance",), 5, [], oid="finance-budget",
                                       pinned=cycle.expected - 0.15)
        self.all_checked_in = True  # a forecast needs every input's pace
        target, branches, teams = self.tree(
            cycle, ("marketing", "sales"), "target", TARGET_DEPARTMENTS, TEAMS,
            lambda: TEAM_KEY_RESULTS, lambda: DEPARTMENT_KEY_RESULTS, True)
        self.all_checked_in = False
        for bid in branches[:3]:
            self.link("supplied_by", "objective", bid, "sales", "objective", production,
                      "production")
        self.link("funded_by", "objective", branches[3], "marketing", "objective", finance,
                  "finance")
        linked_teams = set(teams[:10])
        team_key_results = [row[0] for row in self.rows.key_results if row[2] in linked_teams]
        for kid in rng.sample(team_key_results, 10):
            self.link("depends_on", "key_result", kid, "sales", "key_result",
                      rng.choice(supplies)[0], "production")
        return target, branches[0], teams[0]

    def filler(self) -> Iterator[tuple[str, Cycle]]:
        """Trees until the budget is spent; yields each tree's target id and cycle."""
        rng, number = self.rng, 0
        anchors: list[tuple[str, str]] = []  # (department objective, its department)
        while self.budget > 0:
            cycle = self.cycles[number % len(self.cycles)]
            first, second = rng.sample(DEPARTMENTS, 2)
            root, branches, teams = self.tree(
                cycle, (first, second), None, 3, 3, lambda: rng.randint(5, 10),
                lambda: rng.randint(5, 10), number % 4 == 0)
            if anchors:
                other, department = rng.choice(anchors)
                self.link(rng.choice(("depends_on", "supplied_by", "funded_by", "supports")),
                          "objective", teams[0], first, "objective", other, department)
            anchors.append((branches[0], first))
            if len(anchors) > 1_000:
                anchors.pop(0)
            number += 1
            yield root, cycle


# -- writing ------------------------------------------------------------------------------

def _write(connection: Connection, table: Table, columns: tuple[str, ...],
           rows: list[Row]) -> None:
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        driver: Any = connection.connection.driver_connection  # psycopg's, for COPY
        with (driver.cursor() as cursor,
              cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy):
            for row in rows:
                copy.write_row(row)
    else:
        connection.execute(table.insert(), [dict(zip(columns, row, strict=True))
                                            for row in rows])
    rows.clear()


def _flush(connection: Connection, rows: _Rows) -> None:
    _write(connection, tables.objectives, OBJECTIVE_COLUMNS, rows.objectives)
    _write(connection, tables.key_results, KEY_RESULT_COLUMNS, rows.key_results)
    _write(connection, tables.contributions, CONTRIBUTION_COLUMNS, rows.contributions)
    _write(connection, tables.links, LINK_COLUMNS, rows.links)


def build(engine: Engine, key_results: int, now: datetime,
          progress: Callable[[str], None] = lambda _: None) -> Featured:
    """Write the read model of ``key_results`` key results (at least the featured target's)
    into the empty, migrated database of ``engine``; ``progress`` hears how far it got."""
    builder = _Builder(key_results, now)
    with engine.begin() as connection:
        connection.execute(tables.cycles.insert(), [
            {"key": c.key, "version": 1, "starts_on": c.window.starts_on,
             "ends_on": c.window.ends_on} for c in builder.cycles])
        target, department, team = builder.featured()
        filler_target = ""
        for root, cycle in builder.filler():
            if not filler_target and cycle is builder.current:
                filler_target = root
            if len(builder.rows.key_results) >= FLUSH_EVERY:
                _flush(connection, builder.rows)
                progress(f"  {builder.counts['key_results']:,} of {key_results:,} key "
                         "results written")
        _flush(connection, builder.rows)
    keep_outlooks(engine, now, progress)
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    return Featured(target, department, team, filler_target or target, builder.counts)


def keep_outlooks(engine: Engine, now: datetime,
                  progress: Callable[[str], None] = lambda _: None) -> None:
    """Write every objective's row as the consumer would, its kept outlook with it: the
    read model loaded into the consumer's graph and link index
    (``ReadModelRepository.load_graph``, as a restart loads it), each objective's figures
    and outlook computed there (``kept_in_graph``, with the memos the consumer keeps), and
    the objectives' rows written again in bulk."""
    graph, links = RollupGraph(clock=lambda: now, keep_windows=False), LinkIndex()
    with engine.connect() as connection:
        repository = ReadModelRepository(connection)
        repository.load_graph(graph)
        for link in repository.load_links():
            links.put(link)
    items = GraphItems(graph)
    rows = [tuple(objective_row(graph, objective, now,
                                kept_in_graph(graph, items, links, objective.id)).values())
            for objective in graph.objectives()]
    progress(f"  {len(rows):,} objectives' figures and outlooks computed by the consumer's "
             "graph")
    columns = tuple(objective_row(graph, next(iter(graph.objectives())), now).keys())
    with engine.begin() as connection:
        connection.execute(tables.objectives.delete())
        _write(connection, tables.objectives, columns, rows)


def featured_in(engine: Engine) -> Featured | None:
    """The objectives worth explaining in a read model :func:`build` wrote earlier (kept
    between runs), or None if the database holds none: the featured target, the first of
    its department objectives and of that one's team objectives, and the first filler
    collective target of the newest cycle (first by id)."""
    o, c = tables.objectives, tables.contributions
    with engine.connect() as connection:
        if connection.execute(select(o.c.id).where(o.c.id == "target")).first() is None:
            return None

        def first_child(parent: str) -> str:
            return connection.execute(
                select(func.min(c.c.child_id)).where(
                    c.c.parent_type == "objective", c.c.parent_id == parent,
                    c.c.child_type == "objective")).scalar_one()

        department = first_child("target")
        team = first_child(department)
        newest = connection.execute(select(tables.cycles.c.key).order_by(
            tables.cycles.c.starts_on.desc()).limit(1)).scalar_one()
        filler = connection.execute(select(func.min(o.c.id)).where(
            o.c.cycle == newest, o.c.kind == "collective", o.c.id != "target")).scalar_one()
        counts = {table.name: connection.execute(
            select(func.count()).select_from(table)).scalar_one()
            for table in (o, tables.key_results, c, tables.links)}
    return Featured("target", department, team, filler or "target", counts)
