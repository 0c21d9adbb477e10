"""``Idempotency-Key``: a request retried with the same key is applied once and answered as
the first time. The one mechanism of every service's creating ``POST`` (goals: objectives,
key results, reference data, links, check-ins; notifications: subscriptions).

A key is scoped to the caller (:func:`scope`: its token, else its name): two systems may
use the same key without colliding, and no caller ever gets another's answer. The first
answer is kept with a fingerprint of the request (the operation, its path and its validated
body); a retry with the same key and fingerprint gets that answer back, a retry with
another fingerprint is :class:`KeyReused` (each service answers it 422) and changes nothing.

The key is written in the same transaction as what the request creates, so both commit or
neither does. A create reserves its key before it writes anything else
(:func:`create_once`): a concurrent twin with the same key waits on that row (PostgreSQL)
or on the write lock (SQLite), then finds the key taken (:class:`DuplicateKey`), rolls back
whatever it did and replays the first answer. Each service keeps its keys in a table of its
own database (``shared/persistence/idempotency.py`` builds the table and its repository)
and forgets them after ``OKR_IDEMPOTENCY_RETENTION_HOURS`` (:func:`purge_keys`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, TypeVar

from shared.clock import Clock, system_clock
from shared.persistence.retention import PURGE_BATCH

RESERVED = 0
"""The status of a key whose request has not committed yet (never seen outside its
transaction: the row and the answer commit together)."""

class DuplicateKey(Exception):
    """The key is stored already (a concurrent request stored it first)."""


class KeyReused(Exception):
    """An ``Idempotency-Key`` was sent again with a different request."""


@dataclass(frozen=True)
class IdempotentRequest:
    """The caller's ``Idempotency-Key`` and the fingerprint of what it asked."""

    key: str
    fingerprint: str


@dataclass(frozen=True)
class StoredResponse:
    """The answer given to a request with an idempotency key, kept for its retries."""

    fingerprint: str
    status_code: int
    response: str


@dataclass(frozen=True)
class Answer:
    """What a request got: its status and JSON body; ``replayed`` when it is the first
    answer to an earlier request with the same key."""

    status: int
    body: str
    replayed: bool = False


class IdempotencyKeys(Protocol):
    """Where a service keeps its keys (``shared/persistence/idempotency.py``)."""

    def get(self, principal: str, key: str) -> StoredResponse | None: ...

    def add(self, principal: str, key: str, stored: StoredResponse, at: datetime) -> None:
        """:class:`DuplicateKey` if ``(principal, key)`` is stored already."""

    def complete(self, principal: str, key: str, stored: StoredResponse) -> None:
        """Replace the answer kept for a key this transaction added (a create reserves its
        key before it writes, and stores its answer once it has one)."""

    def purge(self, before: datetime, limit: int) -> int:
        """Forget at most ``limit`` keys stored before ``before``; how many were forgotten."""


class Unit(Protocol):
    """A unit of work as :func:`create_once` uses it: one transaction, committed or not."""

    def __enter__(self) -> Any: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def commit(self) -> None: ...


U = TypeVar("U", bound=Unit)


def fingerprint(operation: str, body: Any) -> str:
    """A digest of a request: the same operation with the same (validated) body gives the
    same fingerprint, whatever the order of the body's members."""
    canonical = json.dumps([operation, body], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def scope(token_id: str | None, name: str) -> str:
    """Whose keys these are: the token, else the caller's name (the bootstrap admin)."""
    return token_id or name


def replay(keys: IdempotencyKeys, principal: str, request: IdempotentRequest | None
           ) -> StoredResponse | None:
    """The first answer to this key, or None if the key is new; raise :class:`KeyReused`
    if the key was used for another request."""
    if request is None:
        return None
    stored = keys.get(principal, request.key)
    if stored is None:
        return None
    if stored.fingerprint != request.fingerprint:
        raise KeyReused(f"Idempotency-Key {request.key!r} was used for a different request")
    return stored


def remember(keys: IdempotencyKeys, principal: str, request: IdempotentRequest | None,
             answer: Answer, at: datetime) -> None:
    """Keep ``answer`` for the retries of ``request`` (nothing without a key); raise
    :class:`DuplicateKey` if a concurrent request stored the key first."""
    if request is not None:
        keys.add(principal, request.key,
                 StoredResponse(request.fingerprint, answer.status, answer.body), at)


def create_once(uow: U, keys: Callable[[U], IdempotencyKeys], principal: str,
                request: IdempotentRequest, create: Callable[[U], str],
                clock: Clock = system_clock) -> Answer:
    """Run ``create`` once per key, in one transaction of ``uow`` that first replays or
    reserves the key, then creates, stores the answer and commits; status 201.

    ``create(uow)`` writes in the entered ``uow`` without committing, and returns the JSON
    body of the answer. A concurrent twin that reserved the key first wins: this request
    rolls back and answers as the twin did.
    """
    try:
        with uow:
            stored = replay(keys(uow), principal, request)
            if stored is not None:
                return Answer(stored.status_code, stored.response, replayed=True)
            remember(keys(uow), principal, request, Answer(RESERVED, ""), clock())
            body = create(uow)
            keys(uow).complete(principal, request.key,
                               StoredResponse(request.fingerprint, 201, body))
            uow.commit()
        return Answer(201, body)
    except DuplicateKey:
        # A concurrent request with the same key committed first: answer as it did.
        with uow:
            stored = replay(keys(uow), principal, request)
        if stored is None:
            raise
        return Answer(stored.status_code, stored.response, replayed=True)


def purge_keys(unit_of_work: Callable[[], U], keys: Callable[[U], IdempotencyKeys],
               retention: timedelta, clock: Clock = system_clock, batch: int = PURGE_BATCH
               ) -> int:
    """Delete the keys older than ``retention``, ``batch`` per transaction (so a large
    backlog never holds locks for long); how many were deleted. A service's housekeeping
    loop runs it (``shared/runtime/housekeeping.py``)."""
    horizon = clock() - retention
    deleted = 0
    while True:
        with unit_of_work() as uow:
            purged = keys(uow).purge(horizon, batch)
            uow.commit()
        deleted += purged
        if purged < batch:
            return deleted
