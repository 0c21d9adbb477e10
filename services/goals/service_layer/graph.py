"""Use cases for contributions (roll-up edges) and links (cross-department dependencies).

Who may make or remove which edge: ``services/goals/domain/permissions.py`` (the removal of
an edge asks what its making asked). Every change of the graph's shape, and of a unit a sum
depends on, first takes the graph lock (``ContributionRepository.lock_graph``), so two
concurrent changes cannot each pass a check (no cycle, same unit) that together they break.
"""

from __future__ import annotations

from services.goals.domain.access import Principal
from services.goals.domain.errors import Conflict, InvalidInput, NotFound
from services.goals.domain.goals import KeyResult, Objective
from services.goals.domain.graph import (
    Contribution,
    ItemType,
    Link,
    LinkKind,
    Node,
    pick_department,
    require_summable,
    require_sums_hold,
    would_close_a_cycle,
)
from services.goals.domain.permissions import require_contribution_writer, require_link_writer
from services.goals.service_layer.lookups import load_key_result, load_objective
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.contract import EventType


class GraphConflict(Conflict):
    """The edge exists already, or would close a cycle (409)."""


def _owning_objective(uow: UnitOfWork, node: Node, field_name: str) -> Objective:
    """The objective a node is (objective) or belongs to (key result)."""
    item_type, item_id = node
    if item_type is ItemType.OBJECTIVE:
        objective = uow.objectives.get(item_id)
    else:
        key_result = uow.key_results.get(item_id)
        if key_result is None:
            raise InvalidInput(f"key result {item_id!r} does not exist", field_name)
        objective = load_objective(uow, key_result.objective_id)
    if objective is None:
        raise InvalidInput(f"objective {item_id!r} does not exist", field_name)
    return objective


def add_contribution(uow: UnitOfWork, actor: Principal, *, child: Node, parent: Node,
                     weight: float) -> Contribution:
    contribution = Contribution.new(child=child, parent=parent, weight=weight,
                                    created_by=actor.name)
    with uow:
        uow.contributions.lock_graph()
        child_objective = _owning_objective(uow, child, "child_id")
        parent_objective = _owning_objective(uow, parent, "parent_id")
        require_contribution_writer(actor, child_objective, parent_objective,
                                    "attach contributions")
        if child_objective.cycle != parent_objective.cycle:
            raise InvalidInput("child and parent must be in the same cycle", "parent_id")
        if parent[0] is ItemType.KEY_RESULT:
            require_summable(load_key_result(uow, parent[1]), load_key_result(uow, child[1]))
        if uow.contributions.between(child[1], parent[1]) is not None:
            raise GraphConflict("this contribution exists already")
        if child[0] is ItemType.KEY_RESULT and parent == (ItemType.OBJECTIVE,
                                                          child_objective.id):
            # its own objective rolls it up already: a contribution would count it twice
            raise GraphConflict("this key result rolls up into its own objective already")
        if would_close_a_cycle(child, parent, uow.contributions.parents_of):
            raise GraphConflict("this contribution would close a cycle in the roll-up graph")
        uow.contributions.add(contribution)
        uow.record_change(actor=actor, event_type=EventType.CONTRIBUTION_ADDED,
                          item_type="contribution", item_id=contribution.id,
                          key=parent_objective.id,
                          department="+".join(child_objective.departments), before=None,
                          after=contribution.state())
        uow.commit()
    return contribution


def remove_contribution(uow: UnitOfWork, actor: Principal, contribution_id: str) -> None:
    with uow:
        uow.contributions.lock_graph()
        contribution = uow.contributions.get(contribution_id)
        if contribution is None:
            raise NotFound(f"contribution {contribution_id!r} does not exist")
        require_contribution_writer(actor, _owning_objective(uow, contribution.child, "child_id"),
                                    _owning_objective(uow, contribution.parent, "parent_id"),
                                    "remove contributions")
        _remove_contribution(uow, actor, contribution)
        uow.commit()


def check_sums_after_change(uow: UnitOfWork, key_result: KeyResult) -> None:
    """Inside an open unit of work holding the graph lock: the sum rule still holds for
    every contribution ``key_result`` (changed, not yet saved) is part of."""
    feeds: list[KeyResult] = []
    sums: list[KeyResult] = []
    for edge in uow.contributions.touching([key_result.id]):
        if edge.parent_type is not ItemType.KEY_RESULT:  # its child is a key result too
            continue
        if edge.child_id == key_result.id:
            feeds.append(load_key_result(uow, edge.parent_id))
        else:
            sums.append(load_key_result(uow, edge.child_id))
    require_sums_hold(key_result, feeds=feeds, sums=sums)


def _remove_contribution(uow: UnitOfWork, actor: Principal,
                               contribution: Contribution) -> None:
    parent_key = contribution.parent_id
    if contribution.parent_type is ItemType.KEY_RESULT:
        parent_kr = uow.key_results.get(contribution.parent_id)
        parent_key = parent_kr.objective_id if parent_kr else contribution.parent_id
    # Filed under the child's department(s), as its addition was, so a head sees both.
    child_objective = _owning_objective(uow, contribution.child, "child_id")
    uow.contributions.remove(contribution.id)
    uow.record_change(actor=actor, event_type=EventType.CONTRIBUTION_REMOVED,
                      item_type="contribution", item_id=contribution.id, key=parent_key,
                      department="+".join(child_objective.departments),
                      before=contribution.state(), after=contribution.state(), deleted=True)


def create_link(uow: UnitOfWork, actor: Principal, *, kind: LinkKind, source: Node,
                target: Node, source_department: str | None, target_department: str | None,
                note: str) -> Link:
    with uow:
        source_objective = _owning_objective(uow, source, "from_id")
        target_objective = _owning_objective(uow, target, "to_id")
        chosen = source_department
        if chosen is None and actor.department in source_objective.departments:
            chosen = actor.department  # a head speaks for its own department
        from_department = pick_department(source_objective.departments, chosen,
                                          "from_department")
        to_department = pick_department(target_objective.departments, target_department,
                                        "to_department")
        require_link_writer(actor, from_department, "create outgoing links")
        link = Link.new(kind=kind, source=source, source_department=from_department,
                        target=target, target_department=to_department, note=note,
                        created_by=actor.name)
        if uow.links.find(source[1], target[1], kind) is not None:
            raise GraphConflict("this link exists already")
        uow.links.add(link)
        uow.record_change(actor=actor, event_type=EventType.LINK_CREATED, item_type="link",
                          item_id=link.id, key=source_objective.id, department=from_department,
                          before=None, after=link.state())
        uow.commit()
    return link


def remove_link(uow: UnitOfWork, actor: Principal, link_id: str) -> None:
    with uow:
        link = uow.links.get(link_id)
        if link is None:
            raise NotFound(f"link {link_id!r} does not exist")
        require_link_writer(actor, link.from_department, "remove outgoing links")
        _remove_link(uow, actor, link)
        uow.commit()


def _remove_link(uow: UnitOfWork, actor: Principal, link: Link) -> None:
    key = link.from_id
    if link.from_type is ItemType.KEY_RESULT:
        source_kr = uow.key_results.get(link.from_id)
        key = source_kr.objective_id if source_kr else link.from_id
    uow.links.remove(link.id)
    uow.record_change(actor=actor, event_type=EventType.LINK_REMOVED, item_type="link",
                      item_id=link.id, key=key, department=link.from_department,
                      before=link.state(), after=link.state(), deleted=True)


def remove_edges_touching(uow: UnitOfWork, actor: Principal, item_ids: list[str]) -> None:
    """Inside an open unit of work: remove every contribution and link touching the items."""
    for contribution in uow.contributions.touching(item_ids):
        _remove_contribution(uow, actor, contribution)
    for link in uow.links.touching(item_ids):
        _remove_link(uow, actor, link)
