"""Objectives, key results, check-ins and check-ins' idempotency keys in the database.

Check-ins are written at the unit of work's commit: :meth:`SqlCheckInRepository.queue` and
:meth:`SqlKeyResultRepository.queue_value` queue them in :class:`PendingWrites`; everything
else here writes at once.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, delete, or_, select

from services.goals.adapters import tables
from services.goals.adapters.changes import PendingWrites
from services.goals.adapters.queries import page_of, plain, save_versioned
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
from services.goals.service_layer.repositories import (
    KeyResultFilter,
    ObjectiveFilter,
)
from shared.persistence.idempotency import SqlIdempotencyKeys


class SqlObjectiveRepository:
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
        self.connection.execute(tables.objectives.insert().values(**plain(values)))
        self.connection.execute(tables.objective_departments.insert(), [
            {"objective_id": objective.id, "department_key": key} for key in departments])

    def save(self, objective: Objective) -> None:
        values = vars(objective).copy()
        values.pop("departments")
        save_versioned(self.connection, tables.objectives, tables.objectives.c.id, objective.id,
                        plain(values))

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


class SqlKeyResultRepository:
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

    def search(self, where: KeyResultFilter, offset: int, limit: int
               ) -> tuple[list[KeyResult], int]:
        """One page of the key results ``where`` selects, the least recently checked in
        first (never checked in before any), then by id; and how many there are."""
        kr, o, od = tables.key_results, tables.objectives, tables.objective_departments
        query = select(kr)
        if where.cycle:
            query = query.where(kr.c.objective_id.in_(
                select(o.c.id).where(o.c.cycle == where.cycle)))
        if where.department:
            query = query.where(kr.c.objective_id.in_(
                select(od.c.objective_id).where(od.c.department_key == where.department)))
        if where.stale_before is not None:
            # an archived objective's key results take no more check-ins: never stale
            query = query.where(kr.c.aggregation == Aggregation.CHECK_INS.value,
                                or_(kr.c.last_checkin_at.is_(None),
                                    kr.c.last_checkin_at < where.stale_before),
                                kr.c.objective_id.in_(select(o.c.id).where(
                                    o.c.status != ObjectiveStatus.ARCHIVED.value)))
        rows, total = page_of(self.connection, query,
                              (kr.c.last_checkin_at.asc().nulls_first(), kr.c.id), offset, limit)
        return [_key_result(row) for row in rows], total

    def add(self, key_result: KeyResult) -> None:
        self.connection.execute(tables.key_results.insert().values(**plain(vars(key_result))))

    def save(self, key_result: KeyResult) -> None:
        save_versioned(self.connection, tables.key_results, tables.key_results.c.id,
                        key_result.id, plain(vars(key_result)))

    def queue_value(self, key_result: KeyResult, *, read_version: int | None = None) -> None:
        """Queue the save of what check-ins change (value, confidence, time, version), written
        at the commit with the check-ins; for a key result this transaction has locked.
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


class SqlCheckInRepository:
    def __init__(self, connection: Connection, pending: PendingWrites) -> None:
        self.connection = connection
        self.pending = pending

    def queue(self, check_in: CheckIn) -> None:
        """Inserted when the unit of work commits, with its event and audit entry."""
        self.pending.insert(tables.check_ins, plain(vars(check_in)))

    def history(self, key_result_id: str, offset: int, limit: int) -> tuple[list[CheckIn], int]:
        t = tables.check_ins
        rows, total = page_of(self.connection, select(t).where(t.c.key_result_id == key_result_id),
                            (t.c.created_at.desc(), t.c.id), offset, limit)
        return [CheckIn(**{**row._mapping, "source": CheckInSource(row.source)})
                for row in rows], total


class SqlIdempotencyRepository(SqlIdempotencyKeys):
    def __init__(self, connection: Connection) -> None:
        super().__init__(connection, tables.idempotency_keys)


_VALUE = ("current", "confidence", "last_checkin_at", "observed_at", "version", "updated_at")


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
