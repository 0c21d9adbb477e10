"""``Idempotency-Key``: a request retried with the same key is applied once and answered as
the first time; the one mechanism of every creating ``POST`` and of check-ins.

A key is scoped to the caller (its token, else its name): two systems may use the same key
without colliding, and no caller ever gets another's answer. The first answer is kept with
a fingerprint of the request (the operation, its path and its validated body); a retry with
the same key and fingerprint gets that answer back, a retry with another fingerprint is
:class:`~services.goals.domain.errors.IdempotencyKeyReused` (422) and changes nothing.

The key is written in the same transaction as what the request creates, so both commit or
neither does. A create reserves its key before it writes anything else: a concurrent twin
with the same key waits on that row (PostgreSQL) or on the write lock (SQLite), then finds
the key taken (:class:`DuplicateKey`), rolls back whatever it did and replays the first
answer. Keys are forgotten after ``OKR_IDEMPOTENCY_RETENTION_HOURS``
(``housekeeping.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

from services.goals.domain.access import Principal
from services.goals.domain.errors import IdempotencyKeyReused
from services.goals.service_layer.repositories import DuplicateKey, StoredResponse
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.clock import Clock, system_clock
from shared.contract import EventType

T = TypeVar("T")

RESERVED = 0
"""The status of a key whose request has not committed yet (never seen outside its
transaction: the row and the answer commit together)."""


@dataclass(frozen=True)
class IdempotentRequest:
    """The caller's ``Idempotency-Key`` and the fingerprint of what it asked."""

    key: str
    fingerprint: str


@dataclass(frozen=True)
class Answer:
    """What a request got: its status and JSON body; ``replayed`` when it is the first
    answer to an earlier request with the same key."""

    status: int
    body: str
    replayed: bool = False


def fingerprint(operation: str, body: Any) -> str:
    """A digest of a request: the same operation with the same (validated) body gives the
    same fingerprint, whatever the order of the body's members."""
    canonical = json.dumps([operation, body], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def scope(actor: Principal) -> str:
    """Whose keys these are: the token, else the caller's name."""
    return actor.token_id or actor.name


def replay(uow: UnitOfWork, actor: Principal, request: IdempotentRequest | None
           ) -> StoredResponse | None:
    """The first answer to this key, or None if the key is new; raise
    :class:`IdempotencyKeyReused` if the key was used for another request."""
    if request is None:
        return None
    stored = uow.idempotency.get(scope(actor), request.key)
    if stored is None:
        return None
    if stored.fingerprint != request.fingerprint:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {request.key!r} was used for a different request")
    return stored


def remember(uow: UnitOfWork, actor: Principal, request: IdempotentRequest | None,
             answer: Answer, clock: Clock = system_clock) -> None:
    """Keep ``answer`` for the retries of ``request`` (nothing without a key); raise
    :class:`DuplicateKey` if a concurrent request stored the key first."""
    if request is not None:
        uow.idempotency.add(scope(actor), request.key,
                            StoredResponse(request.fingerprint, answer.status, answer.body),
                            clock())


def create_once(uow: UnitOfWork, actor: Principal, request: IdempotentRequest | None,
                create: Callable[[UnitOfWork], T], render: Callable[[T], str],
                clock: Clock = system_clock) -> Answer:
    """Run the use case ``create`` (which opens, and commits, its unit of work as usual)
    once per key: the answer is ``render`` of what it returns, status 201.

    With a key, ``create`` runs inside a transaction that reserves the key first and stores
    the answer before it commits; its own ``with uow`` and ``commit()`` are folded into
    that transaction (:class:`_Enclosed`).
    """
    if request is None:
        return Answer(201, render(create(uow)))
    try:
        with uow:
            stored = replay(uow, actor, request)
            if stored is not None:
                return Answer(stored.status_code, stored.response, replayed=True)
            remember(uow, actor, request, Answer(RESERVED, ""), clock)
            enclosed = _Enclosed(uow)
            answer = Answer(201, render(create(enclosed)))
            if not enclosed.committed:
                raise RuntimeError("the use case did not commit")
            uow.idempotency.complete(scope(actor), request.key,
                                     StoredResponse(request.fingerprint, 201, answer.body))
            uow.commit()
        return answer
    except DuplicateKey:
        # A concurrent request with the same key committed first: answer as it did.
        with uow:
            stored = replay(uow, actor, request)
        if stored is None:
            raise
        return Answer(stored.status_code, stored.response, replayed=True)


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
