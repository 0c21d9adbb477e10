"""Departments and cycles in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from services.goals.adapters import tables
from services.goals.adapters.queries import page_of, save_versioned
from services.goals.domain.reference_data import Cycle, Department


class SqlDepartmentRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, key: str) -> Department | None:
        row = self.connection.execute(
            select(tables.departments).where(tables.departments.c.key == key)
        ).first()
        return Department(**row._mapping) if row else None

    def list(self, offset: int = 0, limit: int = 100) -> tuple[list[Department], int]:
        t = tables.departments
        rows, total = page_of(self.connection, select(t), (t.c.key,), offset, limit)
        return [Department(**row._mapping) for row in rows], total

    def add(self, department: Department) -> None:
        self.connection.execute(tables.departments.insert().values(**vars(department)))

    def save(self, department: Department) -> None:
        save_versioned(self.connection, tables.departments, tables.departments.c.key,
                        department.key, vars(department))


class SqlCycleRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, key: str) -> Cycle | None:
        t = tables.cycles
        row = self.connection.execute(select(t).where(t.c.key == key)).first()
        return Cycle(**row._mapping) if row else None

    def list(self, offset: int = 0, limit: int = 100, active_on: Any = None
             ) -> tuple[list[Cycle], int]:
        t = tables.cycles
        query = select(t)
        if active_on is not None:
            query = query.where(t.c.starts_on <= active_on, t.c.ends_on >= active_on)
        rows, total = page_of(self.connection, query, (t.c.starts_on.desc(), t.c.key), offset,
                              limit)
        return [Cycle(**row._mapping) for row in rows], total

    def add(self, cycle: Cycle) -> None:
        self.connection.execute(tables.cycles.insert().values(**vars(cycle)))

    def save(self, cycle: Cycle) -> None:
        save_versioned(self.connection, tables.cycles, tables.cycles.c.key, cycle.key, vars(cycle))


