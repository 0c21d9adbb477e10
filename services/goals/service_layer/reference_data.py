"""Use cases for departments and cycles (admin-only writes)."""

from __future__ import annotations

from datetime import date

from services.goals.domain.access import Principal, Role
from services.goals.domain.errors import AlreadyExists, NotFound
from services.goals.domain.reference_data import DEFAULT_DEPARTMENTS, Cycle, Department
from services.goals.service_layer.lookups import check_version
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.contract import EventType

SYSTEM = Principal(name="system", role=Role.ADMIN)


def create_department(uow: UnitOfWork, actor: Principal, key: str, name: str) -> Department:
    actor.require_admin("create departments")
    department = Department.new(key, name)
    with uow:
        if uow.departments.get(key) is not None:
            raise AlreadyExists(f"department {key!r} exists already")
        uow.departments.add(department)
        uow.record_change(actor=actor, event_type=EventType.DEPARTMENT_CREATED,
                          item_type="department", item_id=key, key=key, department=key,
                          before=None, after=department.state())
        uow.commit()
    return department


def rename_department(uow: UnitOfWork, actor: Principal, key: str, name: str,
                      expected_version: int | None) -> Department:
    actor.require_admin("rename departments")
    with uow:
        department = uow.departments.get(key)
        if department is None:
            raise NotFound(f"department {key!r} does not exist")
        check_version(department.version, expected_version, f"department {key!r}")
        before = department.state()
        department.rename(name)
        uow.departments.save(department)
        uow.record_change(actor=actor, event_type=EventType.DEPARTMENT_UPDATED,
                          item_type="department", item_id=key, key=key, department=key,
                          before=before, after=department.state())
        uow.commit()
    return department


def seed_default_departments(uow: UnitOfWork) -> list[str]:
    """Create the four departments of the brief that do not exist yet; return their keys."""
    created = []
    with uow:
        for key, name in DEFAULT_DEPARTMENTS.items():
            if uow.departments.get(key) is None:
                department = Department.new(key, name)
                uow.departments.add(department)
                uow.record_change(actor=SYSTEM, event_type=EventType.DEPARTMENT_CREATED,
                                  item_type="department", item_id=key, key=key, department=key,
                                  before=None, after=department.state())
                created.append(key)
        uow.commit()
    return created


def create_cycle(uow: UnitOfWork, actor: Principal, key: str, starts_on: date, ends_on: date,
                 name: str | None = None) -> Cycle:
    actor.require_admin("create cycles")
    cycle = Cycle.new(key, starts_on, ends_on, name)
    with uow:
        if uow.cycles.get(key) is not None:
            raise AlreadyExists(f"cycle {key!r} exists already")
        uow.cycles.add(cycle)
        uow.record_change(actor=actor, event_type=EventType.CYCLE_CREATED, item_type="cycle",
                          item_id=key, key=key, department=None, before=None,
                          after=cycle.state())
        uow.commit()
    return cycle


def change_cycle(uow: UnitOfWork, actor: Principal, key: str, *, name: str | None,
                 starts_on: date | None, ends_on: date | None,
                 expected_version: int | None) -> Cycle:
    actor.require_admin("change cycles")
    with uow:
        cycle = uow.cycles.get(key)
        if cycle is None:
            raise NotFound(f"cycle {key!r} does not exist")
        check_version(cycle.version, expected_version, f"cycle {key!r}")
        before = cycle.state()
        cycle.change(name=name, starts_on=starts_on, ends_on=ends_on)
        uow.cycles.save(cycle)
        uow.record_change(actor=actor, event_type=EventType.CYCLE_UPDATED, item_type="cycle",
                          item_id=key, key=key, department=None, before=before,
                          after=cycle.state())
        uow.commit()
    return cycle
