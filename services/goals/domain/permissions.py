"""Who may write which goal item.

One rule per kind of item, used by every path that changes it: the route that makes an
item and the route that removes it (remove, detach) ask the same question, so a caller can
never undo what it could not have done.

* an objective and its key results: an admin, or for a department objective the head of
  its department; a collective target only an admin. Deleting an item is its writer's right
  and takes with it the contributions and links touching it (an edge cannot outlive one
  of its ends), whoever made them.
* a contribution (roll-up edge): whoever may write the child's objective, when the
  parent's objective is owned or co-owned by the caller's department; an admin always.
* a link: the head of its source department (``from_department``), or an admin.
* a check-in: an admin, or the head of any department owning the key result's objective
  (progress on a collective target is shared; its definition stays with admins).
"""

from __future__ import annotations

from services.goals.domain.access import Principal, Role
from services.goals.domain.errors import Forbidden
from services.goals.domain.goals import Objective, ObjectiveKind


def require_objective_writer(actor: Principal, objective: Objective, action: str) -> None:
    if objective.kind is ObjectiveKind.COLLECTIVE:
        actor.require_admin(f"{action} of a collective target")
    else:
        actor.require_department_writer(objective.departments[0], action)


def require_contribution_writer(actor: Principal, child: Objective, parent: Objective,
                                action: str) -> None:
    """``child`` and ``parent``: the objectives the edge's ends are (or belong to)."""
    require_objective_writer(actor, child, action)
    if not actor.is_admin and actor.department not in parent.departments:
        actor.require_admin(f"{action} to an objective of another department")


def require_link_writer(actor: Principal, from_department: str, action: str) -> None:
    actor.require_department_writer(from_department, action)


def require_check_in_writer(actor: Principal, departments: list[str]) -> None:
    if actor.is_admin or (actor.role is Role.HEAD and actor.department in departments):
        return
    raise Forbidden(f"{actor.role.value} {actor.name!r} may not check in on key results of "
                    f"{' + '.join(departments)}")
