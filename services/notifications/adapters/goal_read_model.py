"""What the service keeps of the goal graph, in the database (the service layer's
``GoalReadModel``; writes at once): enough to explain an event to its subscribers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, or_, select, union

from services.notifications.adapters import tables
from shared.persistence.dialects import among, insert_ignoring_duplicates, upsert


class GoalReadModel:
    """What the service keeps of the goal graph: objectives, key results, links."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def put_objective(self, objective_id: str, *, title: str, kind: str,
                      departments: list[str], cycle: str, status: str | None = None) -> None:
        values: dict[str, Any] = {"id": objective_id, "title": title, "kind": kind,
                                  "departments": json.dumps(sorted(departments)),
                                  "cycle": cycle}
        if status is not None:
            values["status"] = status
        upsert(self.connection, tables.objectives, [values], ["id"])

    def put_objectives(self, objectives: list[dict[str, Any]]) -> None:
        """Write whole objective rows (id, title, kind, departments, cycle, status) in one
        statement (one per id: the last given wins)."""
        rows = {o["id"]: {"id": o["id"], "title": o["title"], "kind": o["kind"],
                          "departments": json.dumps(sorted(o["departments"])),
                          "cycle": o["cycle"], "status": o["status"]} for o in objectives}
        if rows:
            upsert(self.connection, tables.objectives, [rows[key] for key in sorted(rows)],
                   ["id"])

    def remove_objective(self, objective_id: str) -> None:
        self.connection.execute(delete(tables.objectives)
                                .where(tables.objectives.c.id == objective_id))

    def objective(self, objective_id: str) -> dict[str, Any] | None:
        row = self.connection.execute(select(tables.objectives)
                                      .where(tables.objectives.c.id == objective_id)).first()
        if row is None:
            return None
        return {"id": row.id, "title": row.title, "kind": row.kind, "cycle": row.cycle,
                "departments": json.loads(row.departments), "status": row.status}

    def put_key_result(self, key_result_id: str, objective_id: str, title: str) -> None:
        upsert(self.connection, tables.key_results,
               [{"id": key_result_id, "objective_id": objective_id, "title": title}], ["id"])

    def remove_key_result(self, key_result_id: str) -> None:
        self.connection.execute(delete(tables.key_results)
                                .where(tables.key_results.c.id == key_result_id))

    def objective_of_key_result(self, key_result_id: str) -> str | None:
        return self.connection.execute(
            select(tables.key_results.c.objective_id)
            .where(tables.key_results.c.id == key_result_id)).scalar()

    def put_link(self, link_id: str, from_department: str, to_type: str, to_id: str) -> None:
        insert_ignoring_duplicates(self.connection, tables.links, {
            "id": link_id, "from_department": from_department, "to_type": to_type,
            "to_id": to_id})

    def remove_link(self, link_id: str) -> None:
        self.connection.execute(delete(tables.links).where(tables.links.c.id == link_id))

    def knows_department(self, department: str) -> bool:
        o, link = tables.objectives, tables.links
        # departments are kept as a JSON list: the key in quotes, LIKE's wildcards escaped
        quoted = json.dumps(department).replace("\\", "\\\\").replace(
            "%", "\\%").replace("_", "\\_")
        owner = select(o.c.id).where(o.c.departments.like(f"%{quoted}%", escape="\\"))
        linking = select(link.c.id).where(link.c.from_department == department)
        return (self.connection.execute(owner.limit(1)).first() is not None
                or self.connection.execute(linking.limit(1)).first() is not None)

    def dependent_departments(self, objective_id: str) -> frozenset[str]:
        """Departments with a link to this objective or to one of its key results."""
        links, krs = tables.links, tables.key_results
        query = select(links.c.from_department).where(or_(
            (links.c.to_type == "objective") & (links.c.to_id == objective_id),
            (links.c.to_type == "key_result") & links.c.to_id.in_(
                select(krs.c.id).where(krs.c.objective_id == objective_id)),
        )).distinct()
        return frozenset(self.connection.execute(query).scalars())

    def dependent_departments_many(self, objective_ids: Iterable[str]
                                   ) -> dict[str, frozenset[str]]:
        """:meth:`dependent_departments` of each objective given, in one round trip."""
        ids = sorted(set(objective_ids))
        if not ids:
            return {}
        links, krs = tables.links, tables.key_results
        direct = select(links.c.to_id.label("objective_id"), links.c.from_department).where(
            links.c.to_type == "objective", among(self.connection, links.c.to_id, ids))
        through = select(krs.c.objective_id, links.c.from_department).join(
            krs, (links.c.to_type == "key_result") & (links.c.to_id == krs.c.id)
        ).where(among(self.connection, krs.c.objective_id, ids))
        found: dict[str, set[str]] = {objective_id: set() for objective_id in ids}
        for objective_id, department in self.connection.execute(union(direct, through)):
            found[objective_id].add(department)
        return {objective_id: frozenset(departments)
                for objective_id, departments in found.items()}
