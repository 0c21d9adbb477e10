"""The repository ports the goals use cases work through, one per aggregate.

Implemented on SQLAlchemy in ``services/goals/adapters/*_repositories.py`` and in memory in
``services/goals/service_layer/fakes.py``. A method named ``queue*`` writes nothing at once:
what it queues is written when the unit of work commits (``unit_of_work.py`` says what and
why); every other writing method (``add``, ``save``, ``remove``) writes at once, in the unit
of work's transaction. ``save`` writes only if the item is still at the version it was read
at, else raises ``StaleVersion``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.goals.domain.access import ApiToken
from services.goals.domain.goals import (
    CheckIn,
    KeyResult,
    Objective,
    ObjectiveKind,
    ObjectiveStatus,
)
from services.goals.domain.graph import Contribution, Link, LinkKind, Node
from services.goals.domain.reference_data import Cycle, Department
from shared.idempotency import DuplicateKey, IdempotencyKeys, StoredResponse

__all__ = ["DuplicateKey", "StoredResponse"]  # re-exported: the goals' names for them

Locked = tuple[KeyResult, list[str]]
"""A key result, locked for update, and its objective's departments (sorted)."""


@dataclass(frozen=True)
class ObjectiveFilter:
    cycle: str | None = None
    department: str | None = None
    kind: ObjectiveKind | None = None
    owner: str | None = None
    status: ObjectiveStatus | None = None


@dataclass(frozen=True)
class KeyResultFilter:
    """Key results across objectives: ``department`` owns or co-owns their objective (as
    :class:`ObjectiveFilter` reads it), ``cycle`` is their objective's; ``stale_before``: only
    those that take check-ins, of objectives not archived, last checked in (the latest
    check-in's own time, ``observed_at``) before it, or never."""

    cycle: str | None = None
    department: str | None = None
    stale_before: datetime | None = None


class DepartmentRepository(Protocol):
    def get(self, key: str) -> Department | None: ...
    def add(self, department: Department) -> None: ...
    def save(self, department: Department) -> None: ...


class CycleRepository(Protocol):
    def get(self, key: str) -> Cycle | None: ...
    def add(self, cycle: Cycle) -> None: ...
    def save(self, cycle: Cycle) -> None: ...


class TokenRepository(Protocol):
    def by_hash(self, token_hash: str) -> ApiToken | None: ...
    def get(self, token_id: str) -> ApiToken | None: ...
    def add(self, token: ApiToken) -> None: ...

    def save(self, token: ApiToken) -> None:
        """Store its revocation (and tell every goals process it was revoked)."""

    def revocation_count(self) -> int:
        """How many tokens were ever revoked (tokens are never deleted nor un-revoked)."""


class AuditLog(Protocol):
    def record(self, *, occurred_at: datetime, actor: str, actor_role: str, action: str,
               item_type: str, item_id: str, department: str | None,
               before: dict[str, Any] | None, after: dict[str, Any] | None,
               event_id: str | None, request_id: str | None) -> None:
        """Write an entry for a change that sends no event (tokens); changes that send one
        are recorded by ``UnitOfWork.record_change``."""


class ObjectiveRepository(Protocol):
    def get(self, objective_id: str, *, for_update: bool = False) -> Objective | None: ...
    def add(self, objective: Objective) -> None: ...
    def save(self, objective: Objective) -> None: ...
    def remove(self, objective_id: str) -> None: ...


class KeyResultRepository(Protocol):
    def get(self, key_result_id: str, *, for_update: bool = False) -> KeyResult | None: ...

    def for_check_in(self, key_result_id: str) -> Locked | None:
        """Everything a check-in reads, its key result locked until the transaction ends."""

    def for_check_ins(self, key_result_ids: Iterable[str]) -> dict[str, Locked]:
        """:meth:`for_check_in` for many, locked in id order (so two batches cannot
        deadlock); ids that do not exist are left out."""

    def of_objective(self, objective_id: str) -> list[KeyResult]: ...
    def add(self, key_result: KeyResult) -> None: ...
    def save(self, key_result: KeyResult) -> None: ...

    def queue_value(self, key_result: KeyResult, *, read_version: int | None = None) -> None:
        """Queue the save of what check-ins change (value, confidence, time, version) for
        the commit, conditional on ``read_version`` (default: the version before the last
        change); for a key result this transaction has locked."""

    def remove(self, key_result_id: str) -> None:
        """Remove it with its check-ins."""


class CheckInRepository(Protocol):
    def queue(self, check_in: CheckIn) -> None:
        """Queue the check-in for the commit, with its event and audit entry."""


class ContributionRepository(Protocol):
    def lock_graph(self) -> None:
        """Hold the roll-up graph's lock until the transaction ends: the checks of a change
        of the graph (no cycle, same unit in a sum) see every change committed before."""

    def get(self, contribution_id: str) -> Contribution | None: ...
    def between(self, child_id: str, parent_id: str) -> Contribution | None: ...

    def parents_of(self, node: Node) -> list[Node]:
        """Roll-up parents: explicit contributions, plus a key result's own objective."""

    def touching(self, item_ids: list[str]) -> list[Contribution]: ...
    def add(self, contribution: Contribution) -> None: ...
    def remove(self, contribution_id: str) -> None: ...


class LinkRepository(Protocol):
    def get(self, link_id: str) -> Link | None: ...
    def find(self, from_id: str, to_id: str, kind: LinkKind) -> Link | None: ...
    def touching(self, item_ids: list[str]) -> list[Link]: ...
    def add(self, link: Link) -> None: ...
    def remove(self, link_id: str) -> None: ...


IdempotencyRepository = IdempotencyKeys
