"""The roll-up graph in the database: contributions (roll-up edges) and links."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, delete, or_, select

from services.goals.adapters import tables
from services.goals.adapters.queries import page_of, plain
from services.goals.domain.graph import Contribution, ItemType, Link, LinkKind, Node
from shared.persistence.dialects import advisory_xact_lock


class SqlContributionRepository:
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
                                .values(**plain(vars(contribution))))

    def remove(self, contribution_id: str) -> None:
        self.connection.execute(delete(tables.contributions)
                                .where(tables.contributions.c.id == contribution_id))


class SqlLinkRepository:
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
        self.connection.execute(tables.links.insert().values(**plain(vars(link))))

    def remove(self, link_id: str) -> None:
        self.connection.execute(delete(tables.links).where(tables.links.c.id == link_id))





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
