"""The explanation of an objective held in the consumer's graph (for its roll-up events).

The consumer keeps one :class:`GraphItems` across batches: the items of the subtrees it
explained, with their gap parts and attainment lines. After each batch it forgets the
items the graph says changed (``take_touched``, ``take_reshaped``) and their ancestors,
so a batch recomputes only the paths from what changed up to the objectives it explains;
everything else is taken from the memo as it was computed, so the figures are exactly
those of a computation from scratch. The memo is bounded (:data:`MEMO_ITEMS`): past the
bound it starts again empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, time, timedelta

from services.metrics.domain.explain import (
    Explanation,
    Item,
    Kept,
    LinkEnd,
    Outlook,
    Parts,
    Told,
    explain,
    kept_of,
    outlook,
    told,
    walk,
)
from services.metrics.domain.forecast import Line
from services.metrics.domain.goal_items import LinkState
from services.metrics.domain.graph import KeyResultNode, ObjectiveNode
from services.metrics.domain.rollup import RollupGraph
from services.metrics.domain.status import CycleWindow

UNKNOWN_DEPARTMENT = "unknown"

MEMO_ITEMS = 20_000
"""Items a consumer's memo holds before it starts again (each ~470 bytes with its parts,
lines and memo entry): a graph of 10,000 key results is held whole; at a million, a night
of 10,000 check-ins explained 10,000 objectives and kept 105,000 items (~50 MiB), and
more each night, where the memo would save no more than the subtrees it recomputes."""

Titles = Callable[[str], str | None]
"""A key result's title by its id (None: not known): ``RollupGraph.title_of`` by default;
the consumer's graph holds only the titles it has not written yet, so the consumer reads
the others from its read model."""


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
        self._changed_ends: set[str] = set()  # ids whose links changed (``take_changed``)

    def put(self, link: LinkState) -> None:
        self.drop(link.id)
        self._links[link.id] = link
        for end in (link.from_id, link.to_id):
            self._by_end.setdefault(end, {})[link.id] = link
            self._changed_ends.add(end)

    def take_changed(self) -> set[str]:
        """The ids of the items whose links came or went since the last call."""
        changed, self._changed_ends = self._changed_ends, set()
        return changed

    def drop(self, link_id: str) -> None:
        link = self._links.pop(link_id, None)
        if link is None:
            return
        for end in (link.from_id, link.to_id):
            self._changed_ends.add(end)
            held = self._by_end.get(end)
            if held is not None:
                held.pop(link_id, None)
                if not held:
                    del self._by_end[end]

    def of(self, item_id: str) -> Iterable[LinkState]:
        held = self._by_end.get(item_id)
        return () if held is None else held.values()


class GraphItems:
    """Items of the graph's subtrees, shared between the objectives explained (memo), with
    their gap parts and lines; kept across batches, told what changed by :meth:`forget`."""

    def __init__(self, graph: RollupGraph, limit: int | None = None) -> None:
        self.graph = graph
        self.limit = limit  # items held at most between objectives explained (None: all)
        self._memo: dict[tuple[bool, str], Item] = {}  # by (is an objective, id)
        self.parts: dict[int, Parts] = {}  # by id(item): ``explain.gap_parts``'s memo
        self.lines: dict[int, Line | None] = {}  # by ±id(item): ``attainment_line``'s memo
        self.linked: dict[int, tuple[Item, ...]] = {}  # by id(item): ``linked_in``'s memo
        # by cycle key: (the window, its start, its end), told apart by the window held
        self._bounds: dict[str, tuple[CycleWindow, float, float]] = {}

    def cycle_bounds(self, key: str) -> tuple[float, float] | None:
        """The start and end of a cycle held (:func:`cycle_start`, :func:`cycle_end`)."""
        held = self.graph.cycle(key)
        if held is None:
            return None
        bounds = self._bounds.get(key)
        if bounds is None or bounds[0] is not held[1]:
            bounds = self._bounds[key] = (held[1], cycle_start(held[1]), cycle_end(held[1]))
        return bounds[1], bounds[2]

    def trim(self) -> None:
        """Forget every item once more than ``limit`` are held (between two objectives
        explained: each is then explained from scratch, with the same figures)."""
        if self.limit is not None and len(self._memo) > self.limit:
            self._memo.clear()
            self.parts.clear()
            self.lines.clear()
            self.linked.clear()

    def forget(self, objective_ids: Iterable[str], key_result_ids: Iterable[str]) -> None:
        """Forget the items of these ids and of all their ancestors (whose inputs, parts
        and lines include theirs). An item not held has no ancestor held, but one that
        gained it as an input, which the graph tells (``take_reshaped``) in its turn."""
        graph = self.graph
        stack = [(True, i) for i in objective_ids]
        stack += [(False, i) for i in key_result_ids]
        while stack:
            key = stack.pop()
            item = self._memo.pop(key, None)
            if item is None:
                continue
            self.parts.pop(id(item), None)
            self.lines.pop(id(item), None)
            self.lines.pop(-id(item), None)
            self.linked.pop(id(item), None)
            node = (graph.objective(item.id) if item.type == "objective"
                    else graph.key_result(item.id))
            if node is not None:
                stack.extend((isinstance(parent, ObjectiveNode), parent.id)
                             for _, parent in graph.parents_of(node))

    def linked_in(self, item: Item, links: LinkIndex) -> tuple[Item, ...]:
        """The items of ``item``'s subtree with a link (each once), memoised: a consumer
        forgets the items whose links changed (``LinkIndex.take_changed``)."""
        key = id(item)
        held = self.linked.get(key)
        if held is not None:
            return held
        found: dict[int, Item] = {}
        if links.of(item.id):
            found[key] = item
        for _, child in item.inputs:
            for linked in self.linked_in(child, links):
                found[id(linked)] = linked
        result = tuple(found.values())
        if item.inputs:  # a leaf is cheaper to look up again than to keep (memory)
            self.linked[key] = result
        return result

    def item(self, node: ObjectiveNode | KeyResultNode) -> Item:
        key = (isinstance(node, ObjectiveNode), node.id)
        held = self._memo.get(key)
        if held is not None:
            return held
        if isinstance(node, ObjectiveNode):
            item = Item("objective", node.id, node.title, tuple(node.departments),
                        node.progress, None if node.status is None else node.status.value)
        else:
            owner = self.graph.objective(node.objective_id)
            bounds = None if owner is None else self.cycle_bounds(owner.cycle)
            # (the consumer's graph holds few titles: its outlooks name none but the
            # other ends of links, which ``link_ends`` looks up)
            item = Item("key_result", node.id, self.graph.title_of(node.id) or "",
                        tuple(owner.departments) if owner else (UNKNOWN_DEPARTMENT,),
                        node.progress, measure=node.measure, start=node.start,
                        target=node.target, value=node.current, sums=node.sums,
                        last_checkin_at=node.last_checkin_at, pace=node.pace,
                        cycle_start=None if bounds is None else bounds[0])
        self._memo[key] = item
        item.inputs = [(weight, self.item(child)) for weight, child in self.graph.inputs_of(node)]
        return item


def link_ends(graph: RollupGraph, links: LinkIndex, items: Iterable[Item],
              titles: Titles | None = None) -> Iterator[LinkEnd]:
    for item in items:
        for link in links.of(item.id):
            outgoing = link.from_id == item.id and link.from_type == item.type
            incoming = link.to_id == item.id and link.to_type == item.type
            if not (outgoing or incoming):
                continue
            other_type, other_id, department = (
                (link.to_type, link.to_id, link.to_department) if outgoing
                else (link.from_type, link.from_id, link.from_department))
            title, progress, status = _figures(graph, other_type, other_id,
                                               titles or graph.title_of)
            yield LinkEnd(link.id, link.kind, "outgoing" if outgoing else "incoming",
                          item.type, item.id, other_type, other_id, department, title,
                          progress, status)


def _figures(graph: RollupGraph, item_type: str, item_id: str, titles: Titles
             ) -> tuple[str | None, float | None, str | None]:
    """Title, progress and status of a link's other end; an archived one (a key result's:
    its objective archived) has no status: it holds nothing back, so it is never a
    dependency at risk."""
    if item_type == "objective":
        objective = graph.objective(item_id)
        if objective is None:
            return None, None, None
        return (objective.title, objective.progress,
                None if objective.status is None or objective.archived
                else objective.status.value)
    key_result = graph.key_result(item_id)
    if key_result is None:
        return None, None, None
    owner = graph.objective(key_result.objective_id)
    status = (None if owner is None or owner.status is None or owner.archived
              else owner.status.value)
    return titles(item_id), key_result.progress, status


def _rooted(graph: RollupGraph, items: GraphItems, objective_id: str
            ) -> tuple[ObjectiveNode, Item, float | None] | None:
    """The objective's node, its item and the end of its cycle (POSIX seconds)."""
    node = graph.objective(objective_id)
    if node is None:
        return None
    bounds = items.cycle_bounds(node.cycle)
    return node, items.item(node), None if bounds is None else bounds[1]


def outlook_in_graph(graph: RollupGraph, items: GraphItems, links: LinkIndex,
                     objective_id: str) -> Outlook | None:
    """The forecast and why of :func:`explain_in_graph` (the same values), from the memos
    that ``items`` keeps."""
    if (rooted := _rooted(graph, items, objective_id)) is None:
        return None
    node, root, end = rooted
    ends = link_ends(graph, links, items.linked_in(root, links))
    return outlook(root, graph.expected_progress_of(node), end, graph.now.timestamp(), ends,
                   items.parts, items.lines)


def kept_in_graph(graph: RollupGraph, items: GraphItems, links: LinkIndex,
                  objective_id: str, titles: Titles | None = None) -> Kept | None:
    """What the objective's outlook is told from (``explain.Kept``), from the memos that
    ``items`` keeps; None if the graph lacks the objective."""
    if (rooted := _rooted(graph, items, objective_id)) is None:
        return None
    _, root, _ = rooted
    kept, _ = kept_of(root, link_ends(graph, links, items.linked_in(root, links), titles),
                      items.parts, items.lines)
    return kept


def told_in_graph(graph: RollupGraph, objective: ObjectiveNode, kept: Kept) -> Told:
    """The objective's outlook at the graph's time, told from ``kept``."""
    held = graph.cycle(objective.cycle)
    return told(kept, objective.progress, graph.expected_progress_of(objective),
                None if held is None else cycle_end(held[1]), graph.now.timestamp())


def outlooks_moved(graph: RollupGraph, links: LinkIndex, objective_ids: Iterable[str],
                   key_result_ids: Iterable[str]) -> set[str]:
    """The objectives held whose :class:`~services.metrics.domain.explain.Kept` may have
    changed when these items changed (were touched, reshaped, linked or unlinked): every
    objective among them or above them, and above every item linked to one of them (the
    other end's title, progress and status choose the dependency at risk; a key result's
    status is its objective's, so an objective counts for its key results too)."""
    objective_ids, key_result_ids = set(objective_ids), set(key_result_ids)
    for objective_id in objective_ids:
        key_result_ids.update(k.id for k in graph.key_results_of(objective_id))
    starts: set[tuple[bool, str]] = {(True, i) for i in objective_ids}
    starts.update((False, i) for i in key_result_ids)
    for _, item_id in list(starts):
        for link in links.of(item_id):
            starts.add((link.from_type == "objective", link.from_id))
            starts.add((link.to_type == "objective", link.to_id))
    moved: set[str] = set()
    stack = [node for is_objective, item_id in starts
             if (node := (graph.objective(item_id) if is_objective
                          else graph.key_result(item_id))) is not None]
    seen: set[tuple[bool, str]] = set()
    while stack:
        node = stack.pop()
        key = (isinstance(node, ObjectiveNode), node.id)
        if key in seen:
            continue
        seen.add(key)
        if isinstance(node, ObjectiveNode):
            moved.add(node.id)
        stack.extend(parent for _, parent in graph.parents_of(node))
    return moved


def explain_in_graph(graph: RollupGraph, items: GraphItems, links: LinkIndex,
                     objective_id: str, stale_after: float) -> Explanation | None:
    if (rooted := _rooted(graph, items, objective_id)) is None:
        return None
    node, root, end = rooted
    items_of_root = list(walk(root))
    ends = list(link_ends(graph, links, items_of_root))
    return explain(root, graph.expected_progress_of(node), end, graph.now.timestamp(), ends,
                   stale_after, items_of_root)
