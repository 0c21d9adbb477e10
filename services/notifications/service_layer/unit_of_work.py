"""The unit of work of the notification service, and the repositories it exposes (ports).

Every use case runs in one unit of work: ``with uow: ...; uow.commit()``. A unit either
opens its own transaction (the API's use cases, the delivery loop, the digest flush) or,
given the consumer runner's connection, works inside the runner's transaction, which
commits the handler's writes with the processed event ids (``commit`` then leaves it to
the runner). Nothing is queued: every repository call runs its statement at once, in the
unit's transaction; roll-up of what is not committed happens when the unit ends.

The SQLAlchemy implementations are in ``services/notifications/adapters``
(``unit_of_work.py`` builds them); the composition root (``bootstrap.py``) hands use
cases a :class:`UnitOfWorkFactory`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection

from services.notifications.domain.deliveries import Delivery
from services.notifications.domain.notices import Notice
from services.notifications.domain.settling import Watch
from services.notifications.domain.subscriptions import Subscription
from shared import unit_of_work
from shared.idempotency import IdempotencyKeys


class Subscriptions(Protocol):
    def add(self, subscription: Subscription) -> None: ...

    def save(self, subscription: Subscription, read_version: int) -> bool:
        """Write a changed subscription if it is still at ``read_version``; False if not."""

    def remove(self, subscription_id: str, read_version: int) -> bool:
        """Delete a subscription if it is still at ``read_version``; False if not."""

    def get(self, subscription_id: str) -> Subscription | None: ...

    def page(self, *, department: str | None, channel: str | None, recipient: str | None,
             offset: int, limit: int) -> tuple[list[Subscription], int]: ...

    def all(self) -> list[Subscription]: ...

    def revision(self) -> int:
        """A number that grows with every change to any subscription."""


class Deliveries(Protocol):
    def add(self, *, delivery_id: str, subscription_id: str, recipient: str, channel: str,
            kind: str, event_id: str, message_type: str, objective_id: str | None,
            payload: dict[str, Any], now: datetime) -> bool: ...

    def record(self, immediate: list[tuple[str, str, str, Notice]],
               items: list[tuple[str, Notice]], now: datetime) -> None:
        """Immediate deliveries (subscription id, recipient, channel, notice) and digest
        items (subscription id, notice), each notice stored once; a (subscription, event)
        that has either already keeps it."""

    def drop_digest_items_of(self, items: list[tuple[str, str]]) -> None:
        """Remove the waiting digest items (subscription id, event id) given."""

    def lock_recipients(self, recipients: set[str]) -> None: ...

    def immediate_since(self, recipients: set[str], since: datetime) -> dict[str, int]: ...

    def digest_backlog(self) -> list[tuple[str, datetime]]: ...

    def take_digest_items(self, subscription_id: str, delivery_id: str) -> list[Notice]: ...

    def drop_digest_items(self, subscription_id: str) -> None: ...

    def claim_due(self, owner: str, now: datetime, lease: timedelta,
                  limit: int) -> list[Delivery]: ...

    def finish(self, delivery_id: str, owner: str, *, status: str, attempts: int,
               next_attempt_at: datetime, error: str | None, now: datetime) -> bool: ...

    def retry(self, delivery: Delivery, now: datetime) -> None: ...

    def get(self, delivery_id: str) -> Delivery | None: ...

    def told_of(self, event_id: str) -> set[str]:
        """The subscriptions that already have a delivery of this event."""

    def page(self, *, status: str | None, subscription_id: str | None, offset: int,
             limit: int, department: str | None = None) -> tuple[list[Delivery], int]:
        """Deliveries, oldest first; ``department``: only of that department's
        subscriptions."""


class GoalReadModel(Protocol):
    """What the service keeps of the goal graph to explain events: objectives, key
    results, links."""

    def put_objective(self, objective_id: str, *, title: str, kind: str,
                      departments: list[str], cycle: str, status: str | None = None) -> None:
        ...

    def remove_objective(self, objective_id: str) -> None: ...

    def objective(self, objective_id: str) -> dict[str, Any] | None: ...

    def put_key_result(self, key_result_id: str, objective_id: str, title: str) -> None: ...

    def remove_key_result(self, key_result_id: str) -> None: ...

    def objective_of_key_result(self, key_result_id: str) -> str | None: ...

    def put_link(self, link_id: str, from_department: str, to_type: str, to_id: str) -> None:
        ...

    def remove_link(self, link_id: str) -> None: ...

    def dependent_departments(self, objective_id: str) -> frozenset[str]: ...

    def knows_department(self, department: str) -> bool:
        """Whether an objective owned or co-owned by ``department``, or a link from it, was
        heard of."""

    def put_objectives(self, objectives: list[dict[str, Any]]) -> None:
        """Whole objective rows (id, title, kind, departments, cycle, status) at once."""

    def dependent_departments_many(self, objective_ids: Iterable[str]
                                   ) -> dict[str, frozenset[str]]: ...


class Statuses(Protocol):
    """Each objective's status watch (``domain/settling.py``), and who was told of an
    alarm (told once of the recovery)."""

    def watch(self, objective_id: str) -> Watch | None:
        """The objective's watch, locked until the unit ends."""

    def watches(self, objective_ids: Iterable[str]) -> dict[str, Watch]:
        """The watches of these objectives that have one, locked until the unit ends."""

    def save(self, watch: Watch) -> None: ...

    def save_many(self, watches: Iterable[Watch]) -> None: ...

    def claim_due(self, now: datetime, limit: int) -> list[Watch]:
        """Watches whose wait ended, locked until the unit ends (others' passed over)."""

    def remember_told(self, told: Iterable[tuple[str, str, str, str]], now: datetime) -> None:
        """(subscription id, objective id, status, event id) of each alarm told."""

    def told(self, objective_id: str) -> list[tuple[str, str, str]]:
        """(subscription id, status, event id) of each subscription told of the
        objective's alarm, not yet of its recovery."""

    def told_many(self, objective_ids: Iterable[str]) -> dict[str, list[tuple[str, str, str]]]:
        """:meth:`told` of each objective given."""

    def forget_told(self, objective_id: str) -> None: ...

    def forget_told_many(self, objective_ids: Iterable[str]) -> None: ...


class UnitOfWork(unit_of_work.UnitOfWork, Protocol):
    @property
    def subscriptions(self) -> Subscriptions: ...

    @property
    def deliveries(self) -> Deliveries: ...

    @property
    def goals(self) -> GoalReadModel: ...

    @property
    def statuses(self) -> Statuses: ...

    @property
    def idempotency(self) -> IdempotencyKeys: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, connection: Connection | None = None, *,
                 writes: bool = True) -> UnitOfWork:
        """A unit on its own transaction, or inside ``connection``'s (its owner commits);
        ``writes=False``: reads only (on SQLite no write lock is taken)."""
