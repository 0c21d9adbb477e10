"""Repositories for objectives, key results, check-ins, contributions, links and idempotency."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, delete, or_, select, tuple_

from services.goals.adapters import tables
from services.goals.adapters.changes import PendingWrites
from services.goals.adapters.repositories import page_of, save_versioned
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
from services.goals.domain.graph import Contribution, ItemType, Link, LinkKind, Node
from shared.persistence.dialects import advisory_xact_lock


@dataclass(frozen=True)
class ObjectiveFilter:
    cycle: str | None = None
    department: str | None = None
    kind: ObjectiveKind | None = None
    owner: str | None = None
    status: ObjectiveStatus | None = None


class ObjectiveRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, objective_id: str, *, for_update: bool = False) -> Objective | None:
        t = tables.objectives
        query = select(t).where(t.c.id == objective_id)
        if for_update:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        if row is None:
            return None
        return self._objective(row, self._departments([objective_id])[objective_id])

    def search(self, where: ObjectiveFilter, offset: int, limit: int
             ) -> tuple[list[Objective], int]:
        t, od = tables.objectives, tables.objective_departments
        query = select(t)
        if where.cycle:
            query = query.where(t.c.cycle == where.cycle)
        if where.kind:
            query = query.where(t.c.kind == where.kind.value)
        if where.owner:
            query = query.where(t.c.owner == where.owner)
        if where.status:
            query = query.where(t.c.status == where.status.value)
        if where.department:
            query = query.where(t.c.id.in_(
                select(od.c.objective_id).where(od.c.department_key == where.department)))
        rows, total = page_of(self.connection, query, (t.c.created_at, t.c.id), offset, limit)
        departments = self._departments([row.id for row in rows])
        return [self._objective(row, departments[row.id]) for row in rows], total

    def add(self, objective: Objective) -> None:
        values = vars(objective).copy()
        departments = values.pop("departments")
        self.connection.execute(tables.objectives.insert().values(**_plain(values)))
        self.connection.execute(tables.objective_departments.insert(), [
            {"objective_id": objective.id, "department_key": key} for key in departments])

    def save(self, objective: Objective) -> None:
        values = vars(objective).copy()
        values.pop("departments")
        save_versioned(self.connection, tables.objectives, tables.objectives.c.id, objective.id,
                        _plain(values))

    def remove(self, objective_id: str) -> None:
        self.connection.execute(delete(tables.objective_departments)
                                .where(tables.objective_departments.c.objective_id == objective_id))
        self.connection.execute(delete(tables.objectives)
                                .where(tables.objectives.c.id == objective_id))

    def _departments(self, ids: list[str]) -> dict[str, list[str]]:
        od = tables.objective_departments
        found: dict[str, list[str]] = {objective_id: [] for objective_id in ids}
        if ids:
            rows = self.connection.execute(select(od).where(od.c.objective_id.in_(ids))
                                           .order_by(od.c.department_key))
            for row in rows:
                found[row.objective_id].append(row.department_key)
        return found

    @staticmethod
    def _objective(row: Row[Any], departments: list[str]) -> Objective:
        m = dict(row._mapping)
        m["kind"] = ObjectiveKind(m["kind"])
        m["status"] = ObjectiveStatus(m["status"])
        return Objective(departments=departments, **m)


class KeyResultRepository:
    def __init__(self, connection: Connection, pending: PendingWrites) -> None:
        self.connection = connection
        self.pending = pending

    def get(self, key_result_id: str, *, for_update: bool = False) -> KeyResult | None:
        t = tables.key_results
        query = select(t).where(t.c.id == key_result_id)
        if for_update:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _key_result(row) if row else None

    def for_check_in(self, key_result_id: str) -> tuple[KeyResult, list[str]] | None:
        """The key result, locked for update, and its objective's departments (sorted): all a
        check-in reads, in one statement."""
        rows = self.connection.execute(_key_result_with_departments(),
                                       {"key_result_id": key_result_id}).all()
        if not rows:
            return None
        departments = [row.department_key for row in rows if row.department_key is not None]
        return _key_result(rows[0], exclude=("department_key",)), departments

    def for_check_ins(self, key_result_ids: Iterable[str]) -> dict[str, tuple[KeyResult,
                                                                               list[str]]]:
        """:meth:`for_check_in` for many key results in one statement, locked in id order.

        A transaction that will lock several key results takes them all up front, in one
        global order, so two such transactions cannot deadlock (on SQLite, ``BEGIN
        IMMEDIATE`` already serialises writers). Ids that do not exist are left out.
        """
        ids = sorted(set(key_result_ids))
        found: dict[str, tuple[KeyResult, list[str]]] = {}
        if not ids:
            return found
        for row in self.connection.execute(_key_results_with_departments(), {"ids": ids}):
            if row.id not in found:
                found[row.id] = (_key_result(row, exclude=("department_key",)), [])
            if row.department_key is not None:
                found[row.id][1].append(row.department_key)
        return found

    def of_objective(self, objective_id: str) -> list[KeyResult]:
        t = tables.key_results
        rows = self.connection.execute(select(t).where(t.c.objective_id == objective_id)
                                       .order_by(t.c.created_at, t.c.id))
        return [_key_result(row) for row in rows]

    def list_for_objective(self, objective_id: str, offset: int, limit: int
                           ) -> tuple[list[KeyResult], int]:
        t = tables.key_results
        rows, total = page_of(self.connection, select(t).where(t.c.objective_id == objective_id),
                            (t.c.created_at, t.c.id), offset, limit)
        return [_key_result(row) for row in rows], total

    def add(self, key_result: KeyResult) -> None:
        self.connection.execute(tables.key_results.insert().values(**_plain(vars(key_result))))

    def save(self, key_result: KeyResult) -> None:
        save_versioned(self.connection, tables.key_results, tables.key_results.c.id,
                        key_result.id, _plain(vars(key_result)))

    def save_value(self, key_result: KeyResult, *, read_version: int | None = None) -> None:
        """Save what check-ins change (value, confidence, time, version), when the unit of
        work commits, with the check-ins: for a key result this transaction has locked.
        ``read_version``: the version read, if several check-ins changed it since (default:
        the version before the last change)."""
        self.pending.update_versioned(
            tables.key_results, "id", key_result.id,
            {name: getattr(key_result, name) for name in _VALUE},
            key_result.version - 1 if read_version is None else read_version)

    def remove(self, key_result_id: str) -> None:
        self.connection.execute(delete(tables.check_ins)
                                .where(tables.check_ins.c.key_result_id == key_result_id))
        self.connection.execute(delete(tables.key_results)
                                .where(tables.key_results.c.id == key_result_id))


class CheckInRepository:
    def __init__(self, connection: Connection, pending: PendingWrites) -> None:
        self.connection = connection
        self.pending = pending

    def add(self, check_in: CheckIn) -> None:
        """Inserted when the unit of work commits, with its event and audit entry."""
        self.pending.insert(tables.check_ins, _plain(vars(check_in)))

    def history(self, key_result_id: str, offset: int, limit: int) -> tuple[list[CheckIn], int]:
        t = tables.check_ins
        rows, total = page_of(self.connection, select(t).where(t.c.key_result_id == key_result_id),
                            (t.c.created_at.desc(), t.c.id), offset, limit)
        return [CheckIn(**{**row._mapping, "source": CheckInSource(row.source)})
                for row in rows], total


class ContributionRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def lock_graph(self) -> None:
        """Hold the roll-up graph's lock until the transaction ends: the checks of a change
        of the graph (no cycle, same unit in a sum) see every change committed before.

        See :func:`shared.persistence.dialects.advisory_xact_lock` for each database.
        """
        advisory_xact_lock(self.connection, "okr.goals.graph")

    def get(self, contribution_id: str) -> Contribution | None:
        t = tables.contributions
        row = self.connection.execute(select(t).where(t.c.id == contribution_id)).first()
        return _contribution(row) if row else None

    def between(self, child_id: str, parent_id: str) -> Contribution | None:
        t = tables.contributions
        row = self.connection.execute(
            select(t).where(t.c.child_id == child_id, t.c.parent_id == parent_id)).first()
        return _contribution(row) if row else None

    def parents_of(self, node: Node) -> list[Node]:
        """Roll-up parents: explicit contributions, plus a key result's own objective."""
        t = tables.contributions
        rows = self.connection.execute(select(t.c.parent_type, t.c.parent_id)
                                       .where(t.c.child_id == node[1]))
        parents: list[Node] = [(ItemType(row.parent_type), row.parent_id) for row in rows]
        if node[0] is ItemType.KEY_RESULT:
            kr = tables.key_results
            objective_id = self.connection.execute(
                select(kr.c.objective_id).where(kr.c.id == node[1])).scalar()
            if objective_id is not None:
                parents.append((ItemType.OBJECTIVE, objective_id))
        return parents

    def touching(self, item_ids: list[str]) -> list[Contribution]:
        t = tables.contributions
        rows = self.connection.execute(select(t).where(
            or_(t.c.child_id.in_(item_ids), t.c.parent_id.in_(item_ids))).order_by(t.c.id))
        return [_contribution(row) for row in rows]

    def search(self, *, parent_id: str | None, child_id: str | None, offset: int, limit: int
             ) -> tuple[list[Contribution], int]:
        t = tables.contributions
        query = select(t)
        if parent_id:
            query = query.where(t.c.parent_id == parent_id)
        if child_id:
            query = query.where(t.c.child_id == child_id)
        rows, total = page_of(self.connection, query, (t.c.created_at, t.c.id), offset, limit)
        return [_contribution(row) for row in rows], total

    def add(self, contribution: Contribution) -> None:
        self.connection.execute(tables.contributions.insert()
                                .values(**_plain(vars(contribution))))

    def remove(self, contribution_id: str) -> None:
        self.connection.execute(delete(tables.contributions)
                                .where(tables.contributions.c.id == contribution_id))


class LinkRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, link_id: str) -> Link | None:
        t = tables.links
        row = self.connection.execute(select(t).where(t.c.id == link_id)).first()
        return _link(row) if row else None

    def find(self, from_id: str, to_id: str, kind: LinkKind) -> Link | None:
        t = tables.links
        row = self.connection.execute(select(t).where(
            t.c.from_id == from_id, t.c.to_id == to_id, t.c.kind == kind.value)).first()
        return _link(row) if row else None

    def touching(self, item_ids: list[str]) -> list[Link]:
        t = tables.links
        rows = self.connection.execute(select(t).where(
            or_(t.c.from_id.in_(item_ids), t.c.to_id.in_(item_ids))).order_by(t.c.id))
        return [_link(row) for row in rows]

    def search(self, *, department: str | None, direction: str, item_id: str | None,
             kind: LinkKind | None, offset: int, limit: int) -> tuple[list[Link], int]:
        t = tables.links
        query = select(t)
        if department:
            sides = {"outgoing": [t.c.from_department == department],
                     "incoming": [t.c.to_department == department],
                     "both": [t.c.from_department == department,
                              t.c.to_department == department]}[direction]
            query = query.where(or_(*sides))
        if item_id:
            query = query.where(or_(t.c.from_id == item_id, t.c.to_id == item_id))
        if kind:
            query = query.where(t.c.kind == kind.value)
        rows, total = page_of(self.connection, query, (t.c.created_at, t.c.id), offset, limit)
        return [_link(row) for row in rows], total

    def add(self, link: Link) -> None:
        self.connection.execute(tables.links.insert().values(**_plain(vars(link))))

    def remove(self, link_id: str) -> None:
        self.connection.execute(delete(tables.links).where(tables.links.c.id == link_id))


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status_code: int
    response: str


class IdempotencyRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, principal: str, key: str) -> StoredResponse | None:
        t = tables.idempotency_keys
        row = self.connection.execute(select(t).where(t.c.principal == principal,
                                                      t.c.key == key)).first()
        return StoredResponse(row.fingerprint, row.status_code, row.response) if row else None

    def add(self, principal: str, key: str, stored: StoredResponse, at: datetime) -> None:
        self.connection.execute(tables.idempotency_keys.insert().values(
            principal=principal, key=key, fingerprint=stored.fingerprint,
            status_code=stored.status_code, response=stored.response, created_at=at))

    def purge(self, before: datetime, limit: int) -> int:
        """Forget at most ``limit`` keys stored before ``before``; how many were forgotten."""
        t = tables.idempotency_keys
        oldest = select(t.c.principal, t.c.key).where(t.c.created_at < before).limit(limit)
        result = self.connection.execute(
            delete(t).where(tuple_(t.c.principal, t.c.key).in_(oldest)))
        return int(result.rowcount)



def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Enum members as their values, for the database."""
    return {key: getattr(value, "value", value) for key, value in values.items()}


_VALUE = ("current", "confidence", "last_checkin_at", "version", "updated_at")


def _with_departments() -> Select[Any]:
    """Key results, one row per department of their objective (a LEFT JOIN)."""
    kr, od = tables.key_results, tables.objective_departments
    return (select(kr, od.c.department_key)
            .join_from(kr, od, od.c.objective_id == kr.c.objective_id, isouter=True))


@functools.cache
def _key_result_with_departments() -> Select[Any]:
    """Built once, so SQLAlchemy's compiled cache serves every call (no new cache key)."""
    kr, od = tables.key_results, tables.objective_departments
    return (_with_departments().where(kr.c.id == bindparam("key_result_id"))
            .order_by(od.c.department_key).with_for_update(of=kr))


@functools.cache
def _key_results_with_departments() -> Select[Any]:
    kr, od = tables.key_results, tables.objective_departments
    return (_with_departments().where(kr.c.id.in_(bindparam("ids", expanding=True)))
            .order_by(kr.c.id, od.c.department_key).with_for_update(of=kr))


def _key_result(row: Row[Any], exclude: tuple[str, ...] = ()) -> KeyResult:
    m = dict(row._mapping)
    for name in exclude:
        del m[name]
    m["measure"] = Measure(m["measure"])
    m["aggregation"] = Aggregation(m["aggregation"])
    return KeyResult(**m)


def _contribution(row: Row[Any]) -> Contribution:
    m = dict(row._mapping)
    m["child_type"] = ItemType(m["child_type"])
    m["parent_type"] = ItemType(m["parent_type"])
    return Contribution(**m)


def _link(row: Row[Any]) -> Link:
    m = dict(row._mapping)
    m["kind"] = LinkKind(m["kind"])
    m["from_type"] = ItemType(m["from_type"])
    m["to_type"] = ItemType(m["to_type"])
    return Link(**m)



