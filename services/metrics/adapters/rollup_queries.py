"""Reads of the roll-up API: lists, and an objective's tree with the links of its subtree.

Expected progress is computed at read time from the cycle's dates, so it is exact at any
moment; progress, status and confidence are what the consumer last computed. An
objective's gap by department, forecast and why are told at read time from what the
consumer kept of its subtree (the ``outlook`` column, ``explain.Kept``), with the same
code as ``/explain`` and without reading the subtree, so a list costs no read per item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, func, or_, select

from services.metrics.adapters import tables
from services.metrics.adapters.kept_outlooks import decoded
from services.metrics.domain.explain import told
from services.metrics.domain.explain_graph import cycle_end
from services.metrics.domain.progress import reported
from services.metrics.domain.status import CycleWindow, expected_progress
from shared.clock import Clock, system_clock

NO_DATA = "no_data"
MAX_DEPTH = 5

@dataclass(frozen=True)
class RollupFilter:
    cycle: str | None = None
    kind: str | None = None
    department: str | None = None
    statuses: tuple[str, ...] = ()  # any of these (``no_data``: no status computed yet)


class RollupQueries:
    def __init__(self, engine: Engine, clock: Clock = system_clock) -> None:
        self.engine = engine
        self.clock = clock

    def search(self, where: RollupFilter, offset: int, limit: int
               ) -> tuple[list[dict[str, Any]], int]:
        o = tables.objectives
        conditions: list[ColumnElement[bool]] = []
        if where.cycle is not None:
            conditions.append(o.c.cycle == where.cycle)
        if where.kind is not None:
            conditions.append(o.c.kind == where.kind)
        if where.department is not None:
            conditions.append(_owned_by(where.department))
        if where.statuses:
            statuses = [o.c.status.in_(where.statuses)]
            if NO_DATA in where.statuses:
                statuses.append(o.c.status.is_(None))
            conditions.append(or_(*statuses))
        with self.engine.connect() as connection:
            total = connection.execute(select(func.count()).select_from(o)
                                       .where(*conditions)).scalar_one()
            rows = connection.execute(select(o).where(*conditions).order_by(o.c.id)
                                      .offset(offset).limit(limit)).all()
            windows = self._windows(connection)
        now = self.clock()
        expected = {key: expected_progress(window, now) for key, window in windows.items()}
        return [objective_view(row, expected) | outlook_view(row, windows, now)
                for row in rows], int(total)

    def unknown_references(self, where: RollupFilter) -> dict[str, str]:
        """The filter's cycle and department that the read model has never heard of, each
        with why: a cycle is known from its events, a department from the objectives it
        owns or co-owns and the links it takes part in."""
        o, link = tables.objectives, tables.links
        unknown: dict[str, str] = {}
        with self.engine.connect() as connection:
            if where.cycle is not None and connection.execute(
                    select(tables.cycles.c.key).where(tables.cycles.c.key == where.cycle)
            ).first() is None:
                unknown["cycle"] = f"no cycle {where.cycle!r} is known to the metrics service"
            department = where.department
            if department is not None and connection.execute(
                    select(o.c.id).where(_owned_by(department)).limit(1)).first() is None \
                    and connection.execute(select(link.c.id).where(or_(
                        link.c.from_department == department,
                        link.c.to_department == department)).limit(1)).first() is None:
                unknown["department"] = (f"no objective or link of a department "
                                         f"{department!r} is known to the metrics service")
        return unknown

    def tree(self, objective_id: str, depth: int) -> dict[str, Any] | None:
        """The objective's roll-up, its children to ``depth``, and its subtree's links."""
        with self.engine.connect() as connection:
            row = connection.execute(select(tables.objectives)
                                     .where(tables.objectives.c.id == objective_id)).first()
            if row is None:
                return None
            windows = self._windows(connection)
            now = self.clock()
            expected = {key: expected_progress(w, now) for key, w in windows.items()}
            seen: set[str] = {objective_id}
            view = objective_view(row, expected) | outlook_view(row, windows, now)
            view["children"] = self._children(connection, "objective", objective_id, depth,
                                              expected, seen)
            view["links"] = self._links(connection, seen)
        return view

    def _windows(self, connection: Connection) -> dict[str, CycleWindow]:
        return {row.key: CycleWindow(_date(row.starts_on), _date(row.ends_on))
                for row in connection.execute(select(tables.cycles))}

    def _children(self, connection: Connection, item_type: str, item_id: str, depth: int,
                  expected: dict[str, float], seen: set[str]) -> list[dict[str, Any]]:
        if depth <= 0:
            return []
        o, k, c = tables.objectives, tables.key_results, tables.contributions
        children: list[dict[str, Any]] = []
        if item_type == "objective":
            for row in connection.execute(select(k).where(k.c.objective_id == item_id)
                                          .order_by(k.c.id)):
                children.append(self._key_result_node(connection, row, None, depth, expected,
                                                      seen))
        edges = connection.execute(select(c).where(c.c.parent_type == item_type,
                                                   c.c.parent_id == item_id)
                                   .order_by(c.c.id)).all()
        for edge in edges:
            if edge.child_type == "objective":
                child = connection.execute(select(o).where(o.c.id == edge.child_id)).first()
                if child is None:
                    continue
                seen.add(child.id)
                node = objective_view(child, expected)
                node.update(type="objective", contribution_weight=reported(edge.weight),
                            children=self._children(connection, "objective", child.id,
                                                    depth - 1, expected, seen))
                children.append(node)
            else:
                kr = connection.execute(select(k).where(k.c.id == edge.child_id)).first()
                if kr is not None:
                    children.append(self._key_result_node(connection, kr, edge.weight,
                                                          depth, expected, seen))
        return children

    def _key_result_node(self, connection: Connection, row: Row[Any], weight: float | None,
                         depth: int, expected: dict[str, float], seen: set[str]
                         ) -> dict[str, Any]:
        seen.add(row.id)
        node = key_result_view(row)
        node["contribution_weight"] = reported(weight)
        node["children"] = self._children(connection, "key_result", row.id, depth - 1,
                                          expected, seen)
        return node

    def _links(self, connection: Connection, ids: set[str]) -> list[dict[str, Any]]:
        link = tables.links
        ordered = sorted(ids)
        found: dict[str, Row[Any]] = {}
        for start in range(0, len(ordered), 500):
            chunk = ordered[start:start + 500]
            for row in connection.execute(select(link).where(
                    or_(link.c.from_id.in_(chunk), link.c.to_id.in_(chunk)))):
                found[row.id] = row
        views = []
        for row in sorted(found.values(), key=lambda r: r.id):
            outgoing = row.from_id in ids
            other_type, other_id = ((row.to_type, row.to_id) if outgoing
                                    else (row.from_type, row.from_id))
            views.append({
                "id": row.id, "kind": row.kind, "direction": "outgoing" if outgoing else "incoming",
                "from_type": row.from_type, "from_id": row.from_id,
                "from_department": row.from_department, "to_type": row.to_type,
                "to_id": row.to_id, "to_department": row.to_department,
                "linked_item": self._item_figures(connection, other_type, other_id)})
        return views

    def _item_figures(self, connection: Connection, item_type: str, item_id: str
                      ) -> dict[str, Any]:
        o, k = tables.objectives, tables.key_results
        if item_type == "objective":
            row = connection.execute(select(o.c.title, o.c.progress, o.c.status, o.c.archived)
                                     .where(o.c.id == item_id)).first()
        else:
            row = connection.execute(select(k.c.title, k.c.progress, o.c.status, o.c.archived)
                                     .outerjoin(o, o.c.id == k.c.objective_id)
                                     .where(k.c.id == item_id)).first()
        if row is None:
            return {"type": item_type, "id": item_id, "known": False, "title": None,
                    "progress": None, "status": NO_DATA, "archived": False}
        return {"type": item_type, "id": item_id, "known": True, "title": row.title,
                "progress": reported(row.progress), "status": row.status or NO_DATA,
                "archived": bool(row.archived)}


def _owned_by(department: str) -> ColumnElement[bool]:
    departments = tables.objectives.c.departments
    pattern = department.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(departments == department,
               departments.like(f"{pattern}+%", escape="\\"),
               departments.like(f"%+{pattern}", escape="\\"),
               departments.like(f"%+{pattern}+%", escape="\\"))


def objective_view(row: Row[Any], expected: dict[str, float]) -> dict[str, Any]:
    return {"type": "objective", "objective_id": row.id, "title": row.title,
            "cycle": row.cycle, "kind": row.kind, "departments": row.departments.split("+"),
            "archived": bool(row.archived), "progress": reported(row.progress),
            "attainment": reported(row.attainment),
            "expected_progress": reported(expected.get(row.cycle)),
            "status": row.status or NO_DATA, "confidence": reported(row.confidence),
            "updated_at": row.updated_at}


def outlook_view(row: Row[Any], windows: dict[str, CycleWindow], now: datetime
                 ) -> dict[str, Any]:
    """The objective's gap by owning department, forecast and why at ``now``, told from
    its kept outlook (all null, and no parts, while none is kept)."""
    kept = decoded(row.outlook)
    if kept is None:
        return {"gap": None, "gap_by_department": [], "forecast": None,
                "forecast_reached_on": None, "why": None}
    window = windows.get(row.cycle)
    expected = None if window is None else expected_progress(window, now)
    gap, departments, forecast, why = told(kept, row.progress, expected,
                                           None if window is None else cycle_end(window),
                                           now.timestamp())
    return {"gap": reported(gap),
            "gap_by_department": [
                {"department": share.department, "share": share.share, "weight": share.weight,
                 "progress": reported(share.progress)}
                for share in departments],
            "forecast": reported(forecast.attainment),
            "forecast_reached_on": forecast.reached_on, "why": why}


def key_result_view(row: Row[Any]) -> dict[str, Any]:
    return {"type": "key_result", "key_result_id": row.id, "objective_id": row.objective_id,
            "title": row.title, "measure": row.measure, "aggregation": row.aggregation,
            "unit": row.unit, "start": reported(row.start), "target": reported(row.target),
            "weight": reported(row.weight), "current": reported(row.value),
            "progress": reported(row.progress), "attainment": reported(row.attainment),
            "confidence": reported(row.confidence),
            "last_checkin_at": moment(row.last_checkin_at)}


def moment(posix_seconds: float | None) -> datetime | None:
    """A stored POSIX time as a datetime; None when no datetime can hold it."""
    if posix_seconds is None:
        return None
    try:
        return datetime.fromtimestamp(posix_seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
