"""``Idempotency-Key`` in the goals service: every creating ``POST`` and check-ins.

The mechanism is the platform's one (``shared/idempotency.py``: scope, fingerprint, one
transaction that reserves the key first, concurrent twins, purge); here it is bound to the
goals' unit of work (``uow.idempotency``, the ``idempotency_keys`` table of the goals
database) and to its domain error: a key sent again with another request is
:class:`~services.goals.domain.errors.IdempotencyKeyReused` (422). Keys are forgotten after
``OKR_IDEMPOTENCY_RETENTION_HOURS`` (``housekeeping.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self, TypeVar

from services.goals.domain.access import Principal
from services.goals.domain.errors import IdempotencyKeyReused
from services.goals.service_layer.repositories import StoredResponse
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared import idempotency as shared
from shared.clock import Clock, system_clock
from shared.contract import EventType
from shared.idempotency import RESERVED, Answer, IdempotentRequest, fingerprint

__all__ = ["RESERVED", "Answer", "IdempotentRequest", "create_once", "fingerprint",
           "remember", "replay", "scope"]

T = TypeVar("T")


def scope(actor: Principal) -> str:
    """Whose keys these are: the token, else the caller's name."""
    return shared.scope(actor.token_id, actor.name)


def replay(uow: UnitOfWork, actor: Principal, request: IdempotentRequest | None
           ) -> StoredResponse | None:
    """The first answer to this key, or None if the key is new; raise
    :class:`IdempotencyKeyReused` if the key was used for another request."""
    try:
        return shared.replay(uow.idempotency, scope(actor), request)
    except shared.KeyReused as error:
        raise IdempotencyKeyReused(str(error)) from None


def remember(uow: UnitOfWork, actor: Principal, request: IdempotentRequest | None,
             answer: Answer, clock: Clock = system_clock) -> None:
    """Keep ``answer`` for the retries of ``request`` (nothing without a key); raise
    :class:`DuplicateKey` if a concurrent request stored the key first."""
    shared.remember(uow.idempotency, scope(actor), request, answer, clock())


def create_once(uow: UnitOfWork, actor: Principal, request: IdempotentRequest | None,
                create: Callable[[UnitOfWork], T], render: Callable[[T], str],
                clock: Clock = system_clock) -> Answer:
    """Run the use case ``create`` (which opens, and commits, its unit of work as usual)
    once per key: the answer is ``render`` of what it returns, status 201.

    With a key, ``create`` runs inside the transaction of :func:`shared.create_once`,
    which reserves the key first and stores the answer before it commits; the use case's
    own ``with uow`` and ``commit()`` are folded into that transaction (:class:`_Enclosed`).
    """
    if request is None:
        return Answer(201, render(create(uow)))

    def enclosed_create(outer: UnitOfWork) -> str:
        enclosed = _Enclosed(outer)
        body = render(create(enclosed))
        if not enclosed.committed:
            raise RuntimeError("the use case did not commit")
        return body

    try:
        return shared.create_once(uow, lambda unit: unit.idempotency, scope(actor), request,
                                  enclosed_create, clock)
    except shared.KeyReused as error:
        raise IdempotencyKeyReused(str(error)) from None


class _Enclosed(UnitOfWork):
    """A unit of work already entered by :func:`create_once`: the use case's ``with`` and
    ``commit()`` join it (the commit is noted, and made by ``create_once``), and an error
    leaves it for ``create_once``'s ``with`` to roll back."""

    def __init__(self, outer: UnitOfWork) -> None:
        self._outer = outer
        self.committed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outer, name)  # the repositories and request_id

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def commit(self) -> None:
        self.committed = True

    def savepoint(self, *, database: bool = True) -> AbstractContextManager[None]:
        return self._outer.savepoint(database=database)

    def record_change(self, *, actor: Principal, event_type: EventType, item_type: str,
                      item_id: str, key: str, department: str | None,
                      before: dict[str, Any] | None, after: dict[str, Any],
                      deleted: bool = False) -> str:
        return self._outer.record_change(
            actor=actor, event_type=event_type, item_type=item_type, item_id=item_id, key=key,
            department=department, before=before, after=after, deleted=deleted)
