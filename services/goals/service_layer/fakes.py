"""The unit of work and its repositories in memory, for unit tests of the goals use cases.

They keep the port's promises that the use cases rely on: nothing is kept unless the unit
of work commits; ``queue*`` writes wait for the commit; ``save`` and ``queue_value`` refuse a
stale version; a savepoint that raises drops what it queued; an idempotency key is stored
once. What they do not do: locks (one test runs one unit at a time) and SQL.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from services.goals.domain.access import ApiToken, Principal
from services.goals.domain.errors import StaleVersion
from services.goals.domain.goals import CheckIn, KeyResult, Objective
from services.goals.domain.graph import Contribution, ItemType, Link, LinkKind, Node
from services.goals.domain.reference_data import Cycle, Department
from services.goals.service_layer.repositories import DuplicateKey, Locked, StoredResponse
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.contract import EventType


@dataclass(frozen=True)
class RecordedChange:
    """An event the unit of work sent (and the audit entry filed with it)."""

    event_id: str
    event_type: EventType
    item_type: str
    item_id: str
    key: str
    actor: str
    department: str | None
    before: dict[str, Any] | None
    after: dict[str, Any]
    deleted: bool


@dataclass
class FakeStore:
    """What the database would hold; every unit of work of a test shares one."""

    departments: dict[str, Department] = field(default_factory=dict)
    cycles: dict[str, Cycle] = field(default_factory=dict)
    tokens: dict[str, ApiToken] = field(default_factory=dict)
    objectives: dict[str, Objective] = field(default_factory=dict)
    key_results: dict[str, KeyResult] = field(default_factory=dict)
    check_ins: list[CheckIn] = field(default_factory=list)
    contributions: dict[str, Contribution] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], tuple[StoredResponse, datetime]] = field(
        default_factory=dict)
    changes: list[RecordedChange] = field(default_factory=list)
    """Every event sent, each with its audit entry, in commit order."""
    audit_only: list[dict[str, Any]] = field(default_factory=list)
    """Audit entries with no event (tokens)."""


class _Versioned(Protocol):
    version: int


_V = TypeVar("_V", bound=_Versioned)


def _save_versioned(items: dict[str, _V], key: str, item: _V,
                    read_version: int | None = None) -> None:
    stored = items.get(key)
    expected = item.version - 1 if read_version is None else read_version
    if stored is None or stored.version != expected:
        raise StaleVersion(f"{key!r} was changed by someone else")
    items[key] = copy.deepcopy(item)


class FakeDepartments:
    def __init__(self, store: FakeStore) -> None:
        self._items = store.departments

    def get(self, key: str) -> Department | None:
        return copy.deepcopy(self._items.get(key))

    def add(self, department: Department) -> None:
        self._items[department.key] = copy.deepcopy(department)

    def save(self, department: Department) -> None:
        _save_versioned(self._items, department.key, department)


class FakeCycles:
    def __init__(self, store: FakeStore) -> None:
        self._items = store.cycles

    def get(self, key: str) -> Cycle | None:
        return copy.deepcopy(self._items.get(key))

    def add(self, cycle: Cycle) -> None:
        self._items[cycle.key] = copy.deepcopy(cycle)

    def save(self, cycle: Cycle) -> None:
        _save_versioned(self._items, cycle.key, cycle)


class FakeTokens:
    def __init__(self, store: FakeStore) -> None:
        self._items = store.tokens

    def by_hash(self, token_hash: str) -> ApiToken | None:
        return next((copy.deepcopy(token) for token in self._items.values()
                     if token.token_hash == token_hash), None)

    def get(self, token_id: str) -> ApiToken | None:
        return copy.deepcopy(self._items.get(token_id))

    def add(self, token: ApiToken) -> None:
        self._items[token.id] = copy.deepcopy(token)

    def save(self, token: ApiToken) -> None:
        self._items[token.id] = copy.deepcopy(token)

    def revocation_count(self) -> int:
        return sum(1 for token in self._items.values() if token.revoked_at is not None)


class FakeAuditLog:
    def __init__(self, store: FakeStore) -> None:
        self._entries = store.audit_only

    def record(self, **entry: Any) -> None:
        self._entries.append(entry)


class FakeObjectives:
    def __init__(self, store: FakeStore) -> None:
        self._items = store.objectives

    def get(self, objective_id: str, *, for_update: bool = False) -> Objective | None:
        return copy.deepcopy(self._items.get(objective_id))

    def add(self, objective: Objective) -> None:
        self._items[objective.id] = copy.deepcopy(objective)

    def save(self, objective: Objective) -> None:
        _save_versioned(self._items, objective.id, objective)

    def remove(self, objective_id: str) -> None:
        self._items.pop(objective_id, None)


class FakeKeyResults:
    def __init__(self, store: FakeStore, queued: list[tuple[KeyResult, int]]) -> None:
        self._items = store.key_results
        self._objectives = store.objectives
        self._check_ins = store.check_ins
        self._queued = queued

    def get(self, key_result_id: str, *, for_update: bool = False) -> KeyResult | None:
        return copy.deepcopy(self._items.get(key_result_id))

    def for_check_in(self, key_result_id: str) -> Locked | None:
        key_result = self.get(key_result_id)
        if key_result is None:
            return None
        objective = self._objectives.get(key_result.objective_id)
        return key_result, sorted(objective.departments) if objective else []

    def for_check_ins(self, key_result_ids: Iterable[str]) -> dict[str, Locked]:
        found = {key: self.for_check_in(key) for key in sorted(set(key_result_ids))}
        return {key: locked for key, locked in found.items() if locked is not None}

    def of_objective(self, objective_id: str) -> list[KeyResult]:
        return [copy.deepcopy(key_result) for key_result in self._items.values()
                if key_result.objective_id == objective_id]

    def add(self, key_result: KeyResult) -> None:
        self._items[key_result.id] = copy.deepcopy(key_result)

    def save(self, key_result: KeyResult) -> None:
        _save_versioned(self._items, key_result.id, key_result)

    def queue_value(self, key_result: KeyResult, *, read_version: int | None = None) -> None:
        self._queued.append((replace(key_result),
                             key_result.version - 1 if read_version is None else read_version))

    def remove(self, key_result_id: str) -> None:
        self._items.pop(key_result_id, None)
        self._check_ins[:] = [c for c in self._check_ins if c.key_result_id != key_result_id]


class FakeCheckIns:
    def __init__(self, queued: list[CheckIn]) -> None:
        self._queued = queued

    def queue(self, check_in: CheckIn) -> None:
        self._queued.append(check_in)


class FakeContributions:
    def __init__(self, store: FakeStore) -> None:
        self._items = store.contributions
        self._key_results = store.key_results
        self.graph_locks = 0

    def lock_graph(self) -> None:
        self.graph_locks += 1

    def get(self, contribution_id: str) -> Contribution | None:
        return copy.deepcopy(self._items.get(contribution_id))

    def between(self, child_id: str, parent_id: str) -> Contribution | None:
        return next((copy.deepcopy(edge) for edge in self._items.values()
                     if edge.child_id == child_id and edge.parent_id == parent_id), None)

    def parents_of(self, node: Node) -> list[Node]:
        parents: list[Node] = [(edge.parent_type, edge.parent_id) for edge in self._items.values()
                               if edge.child_id == node[1]]
        if node[0] is ItemType.KEY_RESULT and node[1] in self._key_results:
            parents.append((ItemType.OBJECTIVE, self._key_results[node[1]].objective_id))
        return parents

    def touching(self, item_ids: list[str]) -> list[Contribution]:
        return [copy.deepcopy(edge) for edge in self._items.values()
                if edge.child_id in item_ids or edge.parent_id in item_ids]

    def add(self, contribution: Contribution) -> None:
        self._items[contribution.id] = copy.deepcopy(contribution)

    def remove(self, contribution_id: str) -> None:
        self._items.pop(contribution_id, None)


class FakeLinks:
    def __init__(self, store: FakeStore) -> None:
        self._items = store.links

    def get(self, link_id: str) -> Link | None:
        return copy.deepcopy(self._items.get(link_id))

    def find(self, from_id: str, to_id: str, kind: LinkKind) -> Link | None:
        return next((copy.deepcopy(link) for link in self._items.values()
                     if (link.from_id, link.to_id, link.kind) == (from_id, to_id, kind)), None)

    def touching(self, item_ids: list[str]) -> list[Link]:
        return [copy.deepcopy(link) for link in self._items.values()
                if link.from_id in item_ids or link.to_id in item_ids]

    def add(self, link: Link) -> None:
        self._items[link.id] = copy.deepcopy(link)

    def remove(self, link_id: str) -> None:
        self._items.pop(link_id, None)


class FakeIdempotency:
    def __init__(self, store: FakeStore) -> None:
        self._items = store.idempotency

    def get(self, principal: str, key: str) -> StoredResponse | None:
        found = self._items.get((principal, key))
        return found[0] if found else None

    def add(self, principal: str, key: str, stored: StoredResponse, at: datetime) -> None:
        if (principal, key) in self._items:
            raise DuplicateKey(f"idempotency key {key!r} is stored already")
        self._items[(principal, key)] = (stored, at)

    def complete(self, principal: str, key: str, stored: StoredResponse) -> None:
        self._items[(principal, key)] = (stored, self._items[(principal, key)][1])

    def purge(self, before: datetime, limit: int) -> int:
        old = [key for key, (_, at) in self._items.items() if at < before][:limit]
        for key in old:
            del self._items[key]
        return len(old)


class FakeUnitOfWork(UnitOfWork):
    """A unit of work over a :class:`FakeStore`: leaving it without ``commit()`` puts the
    store back as it was at the start."""

    contributions: FakeContributions

    def __init__(self, store: FakeStore | None = None, request_id: str | None = None) -> None:
        self.store = store or FakeStore()
        self.request_id = request_id
        self.commits = 0
        self._snapshot: FakeStore | None = None
        self._queued_values: list[tuple[KeyResult, int]] = []
        self._queued_check_ins: list[CheckIn] = []
        self._queued_changes: list[RecordedChange] = []

    def __enter__(self) -> Self:
        self._snapshot = copy.deepcopy(self.store)
        self._queued_values, self._queued_check_ins, self._queued_changes = [], [], []
        store = self.store
        self.departments = FakeDepartments(store)
        self.cycles = FakeCycles(store)
        self.tokens = FakeTokens(store)
        self.audit = FakeAuditLog(store)
        self.objectives = FakeObjectives(store)
        self.key_results = FakeKeyResults(store, self._queued_values)
        self.check_ins = FakeCheckIns(self._queued_check_ins)
        self.contributions = FakeContributions(store)
        self.links = FakeLinks(store)
        self.idempotency = FakeIdempotency(store)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._snapshot is not None:  # not committed: roll back
            vars(self.store).update(vars(self._snapshot))
            self._snapshot = None

    def commit(self) -> None:
        for key_result, read_version in self._queued_values:
            _save_versioned(self.store.key_results, key_result.id, key_result, read_version)
        self.store.check_ins.extend(self._queued_check_ins)
        self.store.changes.extend(self._queued_changes)
        self._queued_values.clear()
        self._queued_check_ins.clear()
        self._queued_changes.clear()
        self._snapshot = None
        self.commits += 1

    @contextmanager
    def savepoint(self, *, database: bool = True) -> Iterator[None]:
        marks = (len(self._queued_values), len(self._queued_check_ins),
                 len(self._queued_changes))
        try:
            yield
        except BaseException:
            del self._queued_values[marks[0]:]
            del self._queued_check_ins[marks[1]:]
            del self._queued_changes[marks[2]:]
            raise

    def record_change(self, *, actor: Principal, event_type: EventType, item_type: str,
                      item_id: str, key: str, department: str | None,
                      before: dict[str, Any] | None, after: dict[str, Any],
                      deleted: bool = False) -> str:
        event_id = str(uuid.uuid4())
        self._queued_changes.append(RecordedChange(
            event_id=event_id, event_type=event_type, item_type=item_type, item_id=item_id,
            key=key, actor=actor.name, department=department, before=before, after=after,
            deleted=deleted))
        return event_id
