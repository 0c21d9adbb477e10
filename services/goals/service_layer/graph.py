"""Use cases for contributions (roll-up edges) and links (cross-department dependencies).

A head may attach its own department's objectives and key results to an objective its
department owns or co-owns (typically a collective target), and may link its own items to
other departments' items. Admins may do anything.
"""

from __future__ import annotations

from services.goals.domain.access import Principal
from services.goals.domain.errors import Conflict, InvalidInput, NotFound
from services.goals.domain.goals import Aggregation, Measure, Objective
from services.goals.domain.graph import (
    Contribution,
    ItemType,
    Link,
    LinkKind,
    Node,
    pick_department,
    would_close_a_cycle,
)
from services.goals.service_layer.lookups import load_objective, require_objective_writer
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
        child_objective = _owning_objective(uow, child, "child_id")
        parent_objective = _owning_objective(uow, parent, "parent_id")
        require_objective_writer(actor, child_objective, "attach contributions")
        if not actor.is_admin and not any(
            actor.department == d for d in parent_objective.departments
        ):
            actor.require_admin("attach to an objective of another department")
        if child_objective.cycle != parent_objective.cycle:
            raise InvalidInput("child and parent must be in the same cycle", "parent_id")
        if parent[0] is ItemType.KEY_RESULT:
            _check_summable(uow, child, parent)
        if uow.contributions.between(child[1], parent[1]) is not None:
            raise GraphConflict("this contribution exists already")
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


def _check_summable(uow: UnitOfWork, child: Node, parent: Node) -> None:
    parent_kr = uow.key_results.get(parent[1])
    child_kr = uow.key_results.get(child[1])
    assert parent_kr is not None and child_kr is not None  # checked by _owning_objective
    if parent_kr.aggregation is not Aggregation.SUM:
        raise InvalidInput("a key result takes contributions only when its aggregation is "
                           "'sum'", "parent_id")
    if child_kr.measure is Measure.BOOLEAN or child_kr.unit != parent_kr.unit:
        raise InvalidInput(f"a summed key result needs the same unit ({parent_kr.unit!r}), "
                           f"got {child_kr.unit!r}", "child_id")


def remove_contribution(uow: UnitOfWork, actor: Principal, contribution_id: str) -> None:
    with uow:
        contribution = uow.contributions.get(contribution_id)
        if contribution is None:
            raise NotFound(f"contribution {contribution_id!r} does not exist")
        child_objective = _owning_objective(uow, contribution.child, "child_id")
        require_objective_writer(actor, child_objective, "remove contributions")
        _emit_removed_contribution(uow, actor, contribution)
        uow.commit()


def _emit_removed_contribution(uow: UnitOfWork, actor: Principal,
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
        actor.require_department_writer(from_department, "create outgoing links")
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
        actor.require_department_writer(link.from_department, "remove outgoing links")
        _emit_removed_link(uow, actor, link)
        uow.commit()


def _emit_removed_link(uow: UnitOfWork, actor: Principal, link: Link) -> None:
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
        _emit_removed_contribution(uow, actor, contribution)
    for link in uow.links.touching(item_ids):
        _emit_removed_link(uow, actor, link)
