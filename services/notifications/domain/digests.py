"""A digest: many routine changes in one message, grouped by collective target and department.

A change to a collective target's item is listed under that target; any other change is
listed under each department that owns the item. Within a group, changes keep their order.

Each collective target also shows each owning department's part in the digest (how many
changes of that department's own items it holds, listed under the department), and its
latest status in the digest. After the targets come the links at risk: each objective whose
latest status in the digest is ``at_risk`` or ``off_track`` while other departments
depend on it (a link from one of their items), with who depends on it; all of it from
what the events carry (``Notice.status``, ``Notice.dependent_departments``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.notifications.domain.notices import ALARMING_STATUSES, Notice


def build_digest(notices: Sequence[Notice]) -> dict[str, Any]:
    targets: dict[str, dict[str, Any]] = {}
    departments: dict[str, dict[str, Any]] = {}
    latest: dict[str, Notice] = {}  # each objective's latest notice with a status
    ordered = sorted(notices, key=lambda n: n.occurred_at)
    for notice in ordered:
        line = _line(notice)
        if notice.status is not None:
            latest[notice.objective_id] = notice
        if notice.collective:
            group = targets.setdefault(notice.objective_id, {
                "objective_id": notice.objective_id, "title": notice.title,
                "departments": list(notice.departments), "status": None, "changes": []})
            group["changes"].append(line)
            continue
        for department in notice.departments or ("(unknown)",):
            departments.setdefault(department, {"department": department, "changes": []})[
                "changes"].append(line)
    for objective_id, group in targets.items():
        if objective_id in latest:
            group["status"] = latest[objective_id].status
        group["parts"] = [{"department": department,
                           "changes": len(departments.get(department, {}).get("changes", ()))}
                          for department in sorted(group["departments"])]
    at_risk = [{"objective_id": n.objective_id, "title": n.title, "status": n.status,
                "departments": list(n.departments),
                "dependent_departments": sorted(n.dependent_departments)}
               for n in latest.values()
               if n.status in ALARMING_STATUSES and n.dependent_departments]
    return {
        "count": len(notices),
        "collective_targets": sorted(targets.values(), key=lambda g: g["title"]),
        "departments": sorted(departments.values(), key=lambda g: g["department"]),
        "links_at_risk": sorted(at_risk, key=lambda g: (g["title"], g["objective_id"])),
    }


def digest_groups(data: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(heading, lines) of a digest, for every channel that shows one to people: each
    collective target (its status, each department's part, its changes), the links at
    risk, then each department (so that a message that must be cut, like Slack's 50
    blocks, loses departments' lines first). Older digests lack parts and links: none
    shown."""
    groups: list[tuple[str, list[str]]] = []
    for group in data.get("collective_targets", ()):
        heading = f"Collective target: {group['title']}"
        if group.get("status"):
            heading += f" ({group['status']})"
        lines = [f"{part['department']}: {part['changes']} change(s) of its own items"
                 for part in group.get("parts", ())]
        lines += [change["summary"] for change in group["changes"]]
        groups.append((heading, lines))
    links = data.get("links_at_risk") or ()
    if links:
        groups.append(("Links at risk", [
            f"'{link['title']}' ({', '.join(link['departments']) or 'no department'}) is "
            f"{link['status']}; {', '.join(link['dependent_departments'])} depend(s) on it"
            for link in links]))
    groups += [(f"Department: {g['department']}", [c["summary"] for c in g["changes"]])
               for g in data.get("departments", ())]
    return groups


def _line(notice: Notice) -> dict[str, Any]:
    return {"event_id": notice.event_id, "event_type": notice.event_type,
            "objective_id": notice.objective_id, "title": notice.title,
            "summary": notice.summary, "status": notice.status,
            "occurred_at": notice.occurred_at.isoformat().replace("+00:00", "Z")}
