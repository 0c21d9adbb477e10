"""Goal events as changes to the read model: decoded in full before anything is applied.

:func:`decode` maps the typed events of :mod:`shared.contract.goal_events` onto this
service's domain states; a malformed event raises
:class:`~shared.messaging.consumer.UnprocessableEvent` before the graph in memory is
touched, and so does an event whose version the goals service could not have written
(:func:`version_jumps`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from services.metrics.domain.goal_items import (
    Aggregation,
    ContributionState,
    CycleState,
    InvalidGoalItem,
    ItemType,
    KeyResultState,
    LinkState,
    Measure,
    ObjectiveKind,
    ObjectiveState,
)
from services.metrics.domain.rollup import RollupGraph
from shared.cloudevents import CloudEvent
from shared.contract import EventType
from shared.contract import goal_events as contract
from shared.messaging.consumer import UnprocessableEvent


@dataclass(frozen=True, slots=True)
class Removal:
    """An item removed at ``version``: ``item_type`` is objective, key_result, contribution
    or link."""

    item_type: str
    item_id: str
    version: int


GoalChange = (ObjectiveState | KeyResultState | ContributionState | CycleState | LinkState
              | Removal | None)


class DecodedEvent(NamedTuple):
    """One event and the change it carries: a named tuple, as immutable as a frozen
    dataclass and several times cheaper to build (one per event, on the consumer's hot path)."""

    event: CloudEvent
    change: GoalChange  # None: an event the read model does not need (departments)
    is_check_in: bool = False
    creates: bool = False  # the item's first event (the goals service writes version 1)


_new_decoded = tuple.__new__  # DecodedEvent(...) without its __new__'s Python frame
_CHECKED_IN = EventType.KEY_RESULT_CHECKED_IN


def decode(event: CloudEvent) -> DecodedEvent:
    """The change an event carries; raise :class:`UnprocessableEvent` if it breaks the contract."""
    decoded = contract.decode_goal_event(event)
    try:
        change = _change_of(decoded)
    except InvalidGoalItem as error:
        raise UnprocessableEvent(f"{event.type}: {error}") from None
    event_type = decoded.type
    return _new_decoded(DecodedEvent, (event, change, event_type is _CHECKED_IN,
                                       event_type in _CREATIONS))


_CREATIONS = contract.CREATIONS
_REMOVED_ITEM_TYPE = {
    contract.Objective: "objective", contract.KeyResult: "key_result",
    contract.Contribution: "contribution", contract.Link: "link",
}


# Enum members by value: a dict lookup is ten times cheaper than calling the enum.
_KINDS = {kind.value: kind for kind in ObjectiveKind}
_MEASURES = {measure.value: measure for measure in Measure}
_AGGREGATIONS = {aggregation.value: aggregation for aggregation in Aggregation}
_ITEM_TYPES = {item_type.value: item_type for item_type in ItemType}


_KEY_RESULT = contract.KeyResult
_KEY_RESULT_DELETED = EventType.KEY_RESULT_DELETED


def _change_of(decoded: contract.GoalEvent) -> GoalChange:
    item = decoded.item
    if type(item) is _KEY_RESULT and decoded.type is not _KEY_RESULT_DELETED:
        # Most events (check-ins carry their key result), so tested first, with positional
        # arguments. ``current`` is the goals service's current value: the latest observed
        # check-in (``observed_at``), never simply the last one to arrive. A check-in
        # observed before it carries the key result unchanged at a new version, so applying
        # key results by version, as the projection does, is "latest observed wins" here
        # too; the checked-in value itself (``decoded.check_in``) is never applied.
        last_checkin_at = item.last_checkin_at
        return KeyResultState(
            item.id, item.version, item.objective_id, _MEASURES[item.measure], item.start,
            item.target, item.weight, _AGGREGATIONS[item.aggregation], item.current,
            item.confidence, None if last_checkin_at is None else last_checkin_at.timestamp(),
            item.title, item.unit)
    if isinstance(item, contract.Department):
        return None
    if isinstance(item, contract.Cycle):
        return CycleState(item.key, item.version, item.starts_on, item.ends_on)
    if decoded.removes:
        return Removal(_REMOVED_ITEM_TYPE[type(item)], item.id, item.version)
    if isinstance(item, contract.Objective):
        return ObjectiveState(item.id, item.version, item.cycle, _KINDS[item.kind],
                              tuple(sorted(item.departments)), title=item.title,
                              archived=item.status == "archived", owner=item.owner)
    if isinstance(item, contract.Contribution):
        return ContributionState(item.id, item.version, _ITEM_TYPES[item.child_type],
                                 item.child_id, _ITEM_TYPES[item.parent_type], item.parent_id,
                                 item.weight)
    assert isinstance(item, contract.Link)
    return LinkState(item.id, item.version, item.kind, item.from_type, item.from_id,
                     item.from_department, item.to_type, item.to_id, item.to_department)


HeldVersion = Callable[[str, str], int | None]
"""(item type, id) -> the version the read model holds of that item, or None."""

TOLERATED_GAP = 1
"""Events of one item that may be missing between two that are applied (one that was
dead-lettered, say): an event may be at most ``1 + TOLERATED_GAP`` versions ahead."""


def held_in(graph: RollupGraph, links: dict[str, int]) -> HeldVersion:
    """The versions held by the projection's graph and its links, or an item's version when
    it was removed (links: negative), as earlier events of the same batch would count it
    (``version_jumps``): a removal seen in an earlier batch is a version seen too."""
    def held(item_type: str, item_id: str) -> int | None:
        if item_type == "cycle":
            cycle = graph.cycle(item_id)
            return None if cycle is None else cycle[0]
        if item_type == "link":
            link = links.get(item_id)
            return None if link is None else abs(link)
        item = (graph.objective(item_id) if item_type == "objective" else
                graph.key_result(item_id) if item_type == "key_result" else
                graph.contribution(item_id))
        removed = graph.removed_at(_ITEM_TYPES.get(item_type), item_id)  # None: a contribution
        if item is None:
            return removed
        return item.version if removed is None else max(item.version, removed)
    return held


def version_jumps(decoded: Iterable[DecodedEvent], held: HeldVersion) -> dict[str, str]:
    """The events whose version the goals service could not have written after the
    version the read model holds: each one's id, and why.

    The goals service writes an item at version 1 when it creates it and adds exactly 1
    with every change (a check-in included; contributions and links never change, so they
    stay at 1); a deletion or removal carries the last version. Events of one item share
    one Kafka key, so they arrive in order. So an event may repeat or trail the version
    held (a duplicate or a late copy: ignored as stale later on) or be one ahead of it
    (:data:`TOLERATED_GAP` more if events were lost on the way), never further; and a
    creation is at version 1. Events earlier in ``decoded`` count as held, but for those
    refused: the others are judged as they would be without them.

    This is choice (a) of three ways to keep one forged record (say a check-in at version
    2,000,000,000 for a real key result) from freezing an item, after which every real
    event would look stale. (b) Signing events would need a key shared by every producer
    and consumer, kept secret and rotated, and a second envelope for integrators to verify;
    (c) asking the goals API about every surprising version would couple the consumer's
    progress to the API's availability and give the consumer credentials to the API. With
    (a) a forged record can at worst take the place of the next ``1 + TOLERATED_GAP``
    changes of one item, after which real events move it on again; Kafka ACLs
    (``docker-compose.yml``, ``deploy/k8s``) keep others from writing the topic at all.
    The price: if more than :data:`TOLERATED_GAP` real events of an item in a row are lost
    or dead-lettered, its later events are dead-lettered too (with this reason) until the
    missing ones are replayed from the dead-letter topic or the read model is rebuilt.

    An item removed steps from the version it was removed at, whether the removal came in
    this batch or an earlier one (a rebuild sees both in one chunk). An item the read model
    has never seen has no version to step from: any version is
    taken (a replay of a topic that lost its beginning has items whose first event is a
    change), except that a creation must be version 1.
    """
    known: dict[tuple[str, str], int] = {}
    refused: dict[str, str] = {}
    for item in decoded:
        change = item.change
        if change is None:
            continue
        # most events carry a key result (every check-in does): its identity first
        identity = (("key_result", change.id) if type(change) is KeyResultState
                    else _identity(change))
        version = change.version
        if item.creates and version != 1:
            refused[item.event.id] = (
                f"{item.event.type} at version {version}: the goals service creates at 1")
            continue
        base = known[identity] if identity in known else held(*identity)
        if base is not None and version > base + 1 + TOLERATED_GAP:
            refused[item.event.id] = (
                f"{identity[0]} {identity[1]} at version {version} skips ahead of version "
                f"{base}: the goals service adds one per change")
            continue
        known[identity] = version if base is None else max(base, version)
    return refused


def _identity(change: ObjectiveState | KeyResultState | ContributionState | CycleState
              | LinkState | Removal) -> tuple[str, str]:
    if isinstance(change, Removal):
        return change.item_type, change.item_id
    if isinstance(change, CycleState):
        return "cycle", change.key
    if isinstance(change, ObjectiveState):
        return "objective", change.id
    if isinstance(change, KeyResultState):
        return "key_result", change.id
    if isinstance(change, ContributionState):
        return "contribution", change.id
    return "link", change.id
