"""The roll-up graph (contributions) and the dependencies beside it (links).

Nodes are objectives and key results. A key result always rolls into its own objective;
a contribution adds an edge from a child (objective or key result) to a parent (objective,
or a summing key result). The graph must stay acyclic. Links never change progress.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from services.goals.domain.errors import Conflict, InvalidInput
from services.goals.domain.goals import Aggregation, KeyResult, Measure, finite
from services.goals.domain.state import serialise_state

MAX_LINK_NOTE = 1000


class ItemType(StrEnum):
    OBJECTIVE = "objective"
    KEY_RESULT = "key_result"


Node = tuple[ItemType, str]


@dataclass
class Contribution:
    child_type: ItemType
    child_id: str
    parent_type: ItemType
    parent_id: str
    weight: float
    created_by: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: int = 1
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def new(cls, *, child: Node, parent: Node, weight: float, created_by: str) -> Contribution:
        if child == parent:
            raise InvalidInput("an item cannot contribute to itself", "parent_id")
        if child[0] is ItemType.OBJECTIVE and parent[0] is ItemType.KEY_RESULT:
            raise InvalidInput("an objective contributes to an objective, not a key result",
                               "parent_type")
        weight = finite(weight, "weight")
        if weight < 0:
            raise InvalidInput("must not be negative", "weight")
        return cls(child_type=child[0], child_id=child[1], parent_type=parent[0],
                   parent_id=parent[1], weight=weight, created_by=created_by)

    @property
    def child(self) -> Node:
        return (self.child_type, self.child_id)

    @property
    def parent(self) -> Node:
        return (self.parent_type, self.parent_id)

    def state(self) -> dict[str, Any]:
        return serialise_state(asdict(self))


def path_exists(start: Node, goal: Node, parents_of: Callable[[Node], Iterable[Node]]) -> bool:
    """True when ``goal`` is reachable from ``start`` going up the roll-up edges."""
    seen = {start}
    frontier = [start]
    while frontier:
        node = frontier.pop()
        if node == goal:
            return True
        for parent in parents_of(node):
            if parent not in seen:
                seen.add(parent)
                frontier.append(parent)
    return False


def would_close_a_cycle(child: Node, parent: Node,
                        parents_of: Callable[[Node], Iterable[Node]]) -> bool:
    """Adding child -> parent closes a cycle iff the child is already above the parent."""
    return path_exists(parent, child, parents_of)


def require_summable(parent: KeyResult, child: KeyResult) -> None:
    """The sum rule: a key result takes contributions only when it sums them, and what it
    sums are numbers in its own unit (never a boolean)."""
    if parent.aggregation is not Aggregation.SUM:
        raise InvalidInput("a key result takes contributions only when its aggregation is "
                           "'sum'", "parent_id")
    if child.measure is Measure.BOOLEAN or child.unit != parent.unit:
        raise InvalidInput(f"a summed key result needs the same unit ({parent.unit!r}), "
                           f"got {child.unit!r}", "child_id")


def require_sums_hold(key_result: KeyResult, *, feeds: Iterable[KeyResult],
                      sums: Iterable[KeyResult]) -> None:
    """The sum rule, after ``key_result`` changed, for every contribution it is part of:
    the sums it ``feeds`` and the key results it ``sums``. A change those contributions
    cannot follow conflicts with them (409): remove the contribution first."""
    pairs = [(parent, key_result) for parent in feeds] + [(key_result, c) for c in sums]
    for parent, child in pairs:
        try:
            require_summable(parent, child)
        except InvalidInput as broken:
            raise Conflict(f"key result {child.id!r} adds its value to {parent.id!r}: "
                           f"{broken}; remove that contribution first") from None


class LinkKind(StrEnum):
    DEPENDS_ON = "depends_on"  # cannot succeed without the other item
    SUPPORTS = "supports"  # helps the other item succeed
    FUNDED_BY = "funded_by"  # budget comes from the other item (typically finance)
    SUPPLIED_BY = "supplied_by"  # capacity or goods come from the other item (production)
    BLOCKED_BY = "blocked_by"  # currently held up by the other item


@dataclass
class Link:
    kind: LinkKind
    from_type: ItemType
    from_id: str
    from_department: str
    to_type: ItemType
    to_id: str
    to_department: str
    note: str
    created_by: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: int = 1
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def new(cls, *, kind: LinkKind, source: Node, source_department: str, target: Node,
            target_department: str, note: str, created_by: str) -> Link:
        if source_department == target_department:
            raise InvalidInput("a link connects items of two different departments",
                               "to_department")
        note = note.strip()
        if len(note) > MAX_LINK_NOTE:
            raise InvalidInput(f"must be at most {MAX_LINK_NOTE} characters", "note")
        return cls(kind=kind, from_type=source[0], from_id=source[1],
                   from_department=source_department, to_type=target[0], to_id=target[1],
                   to_department=target_department, note=note, created_by=created_by)

    def state(self) -> dict[str, Any]:
        return serialise_state(asdict(self))


def pick_department(owners: list[str], chosen: str | None, field_name: str) -> str:
    """The department a link end speaks for: the only owner, or the one chosen among several."""
    if chosen is None:
        if len(owners) == 1:
            return owners[0]
        raise InvalidInput(f"the item has several departments ({', '.join(owners)}): name one",
                           field_name)
    if chosen not in owners:
        raise InvalidInput(f"must be one of the item's departments: {', '.join(owners)}",
                           field_name)
    return chosen
