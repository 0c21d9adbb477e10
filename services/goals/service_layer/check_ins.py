"""Check-ins: one at a time (with an optional ``Idempotency-Key``) or many in one batch.

Idempotency keys: ``idempotency.py`` (the one mechanism of every ``POST``).

Who may check in: ``services/goals/domain/permissions.py``. A key result whose aggregation
is ``sum`` takes no check-ins: its value is the sum of its contributors, computed in the
roll-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from services.goals.domain.access import Principal
from services.goals.domain.errors import (
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    NotFound,
)
from services.goals.domain.goals import Aggregation, CheckIn, CheckInSource, KeyResult
from services.goals.domain.graph import ItemType
from services.goals.domain.permissions import require_check_in_writer
from services.goals.service_layer import idempotency
from services.goals.service_layer.lookups import audit_department
from services.goals.service_layer.repositories import DuplicateKey, Locked
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.clock import Clock, system_clock
from shared.contract import EventType

Renderer = Callable[[CheckIn, KeyResult], str]
"""Turns an applied check-in into the response body kept for idempotent replays."""


@dataclass(frozen=True)
class CheckInRequest:
    key_result_id: str
    value: float
    confidence: float | None = None
    note: str = ""
    author: str | None = None
    source: CheckInSource = CheckInSource.PERSON
    observed_at: datetime | None = None  # when the value was true; default: now
    idempotency_key: str | None = None
    fingerprint: str = ""


@dataclass(frozen=True)
class CheckInOutcome:
    """What became of one check-in: applied, replayed from its idempotency key, or refused."""

    body: str | None = None
    replayed: bool = False
    error: DomainError | None = None


def _apply(uow: UnitOfWork, actor: Principal, request: CheckInRequest,
           loaded: Locked | None) -> tuple[CheckIn, KeyResult]:
    """Check the caller may, then change the key result (in memory) and queue the check-in,
    its event and its audit entry; the caller saves the key result."""
    if loaded is None:
        raise NotFound(f"key result {request.key_result_id!r} does not exist")
    key_result, departments = loaded
    require_check_in_writer(actor, departments)
    if key_result.aggregation is Aggregation.SUM:
        raise Conflict("this key result sums its contributors; check in on those instead")
    check_in = CheckIn.new(key_result_id=key_result.id, value=request.value,
                           confidence=request.confidence, note=request.note,
                           author=request.author or actor.name, source=request.source,
                           observed_at=request.observed_at)
    before = key_result.state()
    # The latest observation wins: an older one arriving late is recorded, in the history
    # and in its event, but leaves the current value as it is (domain/goals.py).
    key_result.record_value(request.value, request.confidence, check_in.created_at,
                            check_in.observed_at)
    uow.check_ins.queue(check_in)
    uow.record_change(actor=actor, event_type=EventType.KEY_RESULT_CHECKED_IN,
                      item_type=ItemType.KEY_RESULT.value, item_id=key_result.id,
                      key=key_result.objective_id, department=audit_department(departments),
                      before=before,
                      after={"check_in": check_in.state(), "key_result": key_result.state()})
    return check_in, key_result


def _replay(uow: UnitOfWork, actor: Principal, request: CheckInRequest) -> str | None:
    stored = idempotency.replay(uow, actor, _idempotent(request))
    return None if stored is None else stored.response


def _idempotent(request: CheckInRequest) -> idempotency.IdempotentRequest | None:
    if request.idempotency_key is None:
        return None
    return idempotency.IdempotentRequest(request.idempotency_key, request.fingerprint)


def _apply_once(uow: UnitOfWork, actor: Principal, request: CheckInRequest,
                render: Renderer, load: Callable[[str], Locked | None], *, save: bool,
                clock: Clock) -> CheckInOutcome:
    replayed = _replay(uow, actor, request)
    if replayed is not None:
        return CheckInOutcome(body=replayed, replayed=True)
    check_in, key_result = _apply(uow, actor, request, load(request.key_result_id))
    if save:
        uow.key_results.queue_value(key_result)
    body = render(check_in, key_result)
    idempotency.remember(uow, actor, _idempotent(request), idempotency.Answer(201, body), clock)
    return CheckInOutcome(body=body)


def record_check_in(uow: UnitOfWork, actor: Principal, request: CheckInRequest,
                    render: Renderer, clock: Clock = system_clock) -> CheckInOutcome:
    """Apply one check-in; a retry with the same idempotency key returns the first answer."""
    try:
        with uow:
            outcome = _apply_once(uow, actor, request, render, uow.key_results.for_check_in,
                                  save=True, clock=clock)
            uow.commit()
        return outcome
    except DuplicateKey:
        # A concurrent request with the same key committed first: answer as it did.
        with uow:
            replayed = _replay(uow, actor, request)
        if replayed is None:
            raise
        return CheckInOutcome(body=replayed, replayed=True)


def record_check_ins(uow: UnitOfWork, actor: Principal, requests: list[CheckInRequest],
                     render: Renderer, clock: Clock = system_clock) -> list[CheckInOutcome]:
    """Apply many check-ins in one transaction; each succeeds or fails on its own.

    The batch's key results are read and locked once, up front and in id order (so two
    concurrent batches naming the same key results in other orders cannot deadlock); the
    items change them in memory, in turn, and each changed key result is saved once at the
    end. An item that fails leaves its key result as it found it and queues nothing; an
    item with an idempotency key writes that key inside a savepoint of its own.
    """
    outcomes: list[CheckInOutcome] = []
    with uow:
        locked = uow.key_results.for_check_ins(request.key_result_id for request in requests)
        read_versions = {key: key_result.version for key, (key_result, _) in locked.items()}
        for request in requests:
            found = locked.get(request.key_result_id)
            unchanged = None if found is None else (replace(found[0]), found[1])
            try:
                with uow.savepoint(database=request.idempotency_key is not None):
                    outcomes.append(_apply_once(uow, actor, request, render, locked.get,
                                                save=False, clock=clock))
                continue
            except DomainError as error:
                failure: DomainError = error
            except DuplicateKey:
                failure = IdempotencyKeyReused(
                    f"Idempotency-Key {request.idempotency_key!r} appears twice in the batch")
            if unchanged is not None:
                locked[request.key_result_id] = unchanged  # as the item found it
            outcomes.append(CheckInOutcome(error=failure))
        for key, (key_result, _) in locked.items():
            if key_result.version != read_versions[key]:
                uow.key_results.queue_value(key_result, read_version=read_versions[key])
        uow.commit()
    return outcomes
