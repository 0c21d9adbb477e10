"""The explanation of an objective held in the consumer's graph (for its roll-up events)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, time, timedelta

from services.metrics.domain.explain import (
    Explanation,
    Item,
    LinkEnd,
    Outlook,
    explain,
    outlook,
    walk,
)
from services.metrics.domain.goal_items import LinkState
from services.metrics.domain.graph import KeyResultNode, ObjectiveNode
from services.metrics.domain.rollup import RollupGraph
from services.metrics.domain.status import CycleWindow

UNKNOWN_DEPARTMENT = "unknown"


def cycle_start(window: CycleWindow) -> float:
    """The start of the cycle's first day (UTC) in POSIX seconds."""
    return datetime.combine(window.starts_on, time.min, UTC).timestamp()


def cycle_end(window: CycleWindow) -> float:
    """The end of the cycle's last day (midnight after it, UTC) in POSIX seconds."""
    try:
        return datetime.combine(window.ends_on + timedelta(days=1), time.min, UTC).timestamp()
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC).timestamp()


class LinkIndex:
    """The links the consumer holds, by either end's id."""

    def __init__(self) -> None:
        self._links: dict[str, LinkState] = {}
        self._by_end: dict[str, dict[str, LinkState]] = {}

    def put(self, link: LinkState) -> None:
        self.drop(link.id)
        self._links[link.id] = link
        for end in (link.from_id, link.to_id):
            self._by_end.setdefault(end, {})[link.id] = link

    def drop(self, link_id: str) -> None:
        link = self._links.pop(link_id, None)
        if link is None:
            return
        for end in (link.from_id, link.to_id):
            held = self._by_end.get(end)
            if held is not None:
                held.pop(link_id, None)
                if not held:
                    del self._by_end[end]

    def of(self, item_id: str) -> Iterable[LinkState]:
        return self._by_end.get(item_id, {}).values()


class GraphItems:
    """Items of the graph's subtrees; shared between objectives of one batch (memo)."""

    def __init__(self, graph: RollupGraph) -> None:
        self.graph = graph
        self._memo: dict[str, Item] = {}

    def item(self, node: ObjectiveNode | KeyResultNode) -> Item:
        key = f"{'objective' if isinstance(node, ObjectiveNode) else 'key_result'}:{node.id}"
        held = self._memo.get(key)
        if held is not None:
            return held
        if isinstance(node, ObjectiveNode):
            item = Item("objective", node.id, node.title, tuple(node.departments),
                        node.progress, None if node.status is None else node.status.value)
        else:
            owner = self.graph.objective(node.objective_id)
            cycle = None if owner is None else self.graph.cycle(owner.cycle)
            item = Item("key_result", node.id, node.title,
                        tuple(owner.departments) if owner else (UNKNOWN_DEPARTMENT,),
                        node.progress, measure=node.measure, start=node.start,
                        target=node.target, value=node.current, sums=node.sums,
                        last_checkin_at=node.last_checkin_at, pace=node.pace,
                        cycle_start=None if cycle is None else cycle_start(cycle[1]))
        self._memo[key] = item
        item.inputs = [(weight, self.item(child)) for weight, child in self.graph.inputs_of(node)]
        return item


def link_ends(graph: RollupGraph, links: LinkIndex, items: Iterable[Item]) -> Iterator[LinkEnd]:
    for item in items:
        for link in links.of(item.id):
            outgoing = link.from_id == item.id and link.from_type == item.type
            incoming = link.to_id == item.id and link.to_type == item.type
            if not (outgoing or incoming):
                continue
            other_type, other_id, department = (
                (link.to_type, link.to_id, link.to_department) if outgoing
                else (link.from_type, link.from_id, link.from_department))
            title, progress, status = _figures(graph, other_type, other_id)
            yield LinkEnd(link.id, link.kind, "outgoing" if outgoing else "incoming",
                          item.type, item.id, other_type, other_id, department, title,
                          progress, status)


def _figures(graph: RollupGraph, item_type: str, item_id: str
             ) -> tuple[str | None, float | None, str | None]:
    if item_type == "objective":
        objective = graph.objective(item_id)
        if objective is None:
            return None, None, None
        return (objective.title, objective.progress,
                None if objective.status is None else objective.status.value)
    key_result = graph.key_result(item_id)
    if key_result is None:
        return None, None, None
    owner = graph.objective(key_result.objective_id)
    status = None if owner is None or owner.status is None else owner.status.value
    return key_result.title, key_result.progress, status


def explain_in_graph(graph: RollupGraph, items: GraphItems, links: LinkIndex,
                     objective_id: str, stale_after: float) -> Explanation | None:
    node = graph.objective(objective_id)
    if node is None:
        return None
    root = items.item(node)
    held = graph.cycle(node.cycle)
    end = None if held is None else cycle_end(held[1])
    items_of_root = list(walk(root))
    ends = list(link_ends(graph, links, items_of_root))
    return explain(root, graph.expected_progress_of(node), end, graph.now.timestamp(), ends,
                   stale_after, items_of_root)


def outlook_in_graph(graph: RollupGraph, items: GraphItems, links: LinkIndex,
                     objective_id: str) -> Outlook | None:
    """The forecast and why of :func:`explain_in_graph`, and only them (what a roll-up
    event carries)."""
    node = graph.objective(objective_id)
    if node is None:
        return None
    root = items.item(node)
    held = graph.cycle(node.cycle)
    end = None if held is None else cycle_end(held[1])
    ends = list(link_ends(graph, links, walk(root)))
    return outlook(root, graph.expected_progress_of(node), end, graph.now.timestamp(), ends)
