"""Use cases on subscriptions, each in one unit of work, with the caller's rights.

Admins see and manage every subscription; heads see and manage the subscriptions of their
own department; nobody else sees any (``domain/permissions.py``): a subscription the caller
may not see is not found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from services.notifications.domain.errors import (
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    StaleVersion,
    UnknownReference,
)
from services.notifications.domain.permissions import (
    require_visible,
    require_write,
    require_writing_role,
    visible_department,
)
from services.notifications.domain.subscriptions import (
    Channel,
    DeliveryMode,
    Filters,
    Subscription,
    schedule_from,
)
from services.notifications.domain.targets import TargetPolicy, check_webhook_url
from services.notifications.service_layer.unit_of_work import Subscriptions, UnitOfWork
from shared import idempotency
from shared.clock import Clock, system_clock
from shared.idempotency import Answer, IdempotentRequest
from shared.identity import Caller

AddressCheck = Callable[[str, int, TargetPolicy], str | None]
"""(host, port, policy) -> why a webhook may not call that address (resolved now), or None
(``services/notifications/adapters/webhooks.py``: ``refused_address``)."""


def create_subscription(uow: UnitOfWork, caller: Caller, policy: TargetPolicy,
                        default_digest_seconds: int, fields: dict[str, Any],
                        clock: Clock = system_clock, *,
                        check_address: AddressCheck) -> Subscription:
    subscription = _new_subscription(caller, policy, default_digest_seconds, fields, clock,
                                     check_address)
    with uow:
        uow.subscriptions.add(subscription)
        uow.commit()
    return subscription


def create_subscription_once(uow: UnitOfWork, caller: Caller, policy: TargetPolicy,
                             default_digest_seconds: int, fields: dict[str, Any],
                             request: IdempotentRequest,
                             render: Callable[[Subscription], str],
                             clock: Clock = system_clock, *,
                             check_address: AddressCheck) -> Answer:
    """:func:`create_subscription` once per ``Idempotency-Key`` (``shared/idempotency.py``):
    the answer is ``render`` of the subscription, status 201; a retry with the same key and
    body gets that answer again, with another body :class:`IdempotencyKeyReused`.

    A known key is answered before the request is checked again (a retry after a timeout
    gets its answer even if the webhook's host does not resolve now); a new one is checked
    (rights, target, address) before the transaction that reserves the key and subscribes,
    so a refused request keeps no key and no name is resolved while the key is held.
    """
    principal = idempotency.scope(caller.token_id, caller.name)
    try:
        with uow:
            stored = idempotency.replay(uow.idempotency, principal, request)
        if stored is not None:
            return Answer(stored.status_code, stored.response, replayed=True)
        subscription = _new_subscription(caller, policy, default_digest_seconds, fields,
                                         clock, check_address)

        def create(unit: UnitOfWork) -> str:
            unit.subscriptions.add(subscription)
            return render(subscription)

        return idempotency.create_once(uow, lambda unit: unit.idempotency, principal, request,
                                       create, clock)
    except idempotency.KeyReused as error:
        raise IdempotencyKeyReused(str(error)) from None


def _new_subscription(caller: Caller, policy: TargetPolicy, default_digest_seconds: int,
                      fields: dict[str, Any], clock: Clock,
                      check_address: AddressCheck) -> Subscription:
    """The subscription ``fields`` ask for, if ``caller`` may make it (nothing written)."""
    require_writing_role(caller)
    department = fields.get("department")
    if department is None and caller.role == "head":
        department = caller.department
    require_write(caller, department)
    channel = Channel(fields["channel"])
    target = _target(channel, fields, policy, check_address)
    return Subscription.new(
        recipient=fields["recipient"], department=department, channel=channel, target=target,
        secret=fields.get("secret"), filters=Filters.from_dict(fields.get("filters")),
        mode=DeliveryMode(fields.get("mode", DeliveryMode.IMMEDIATE.value)),
        digest_interval_seconds=fields.get("digest_interval_seconds") or default_digest_seconds,
        digest_schedule=schedule_from(fields.get("digest_schedule")),
        created_by=caller.name, now=clock())


def update_subscription(uow: UnitOfWork, caller: Caller, policy: TargetPolicy,
                        subscription_id: str, changes: dict[str, Any],
                        expected_version: int, clock: Clock = system_clock, *,
                        check_address: AddressCheck) -> Subscription:
    """Change a subscription read at ``expected_version``; StaleVersion if it changed since."""
    require_writing_role(caller)
    with uow:
        current = _existing(uow.subscriptions, subscription_id, caller)
        require_write(caller, current.department)
        _require_version(current, expected_version)
        updates: dict[str, Any] = {}
        for name in ("recipient", "digest_interval_seconds", "secret"):
            if name in changes:
                updates[name] = changes[name]
        if "mode" in changes:
            updates["mode"] = DeliveryMode(changes["mode"])
        if "filters" in changes:
            updates["filters"] = Filters.from_dict(changes["filters"])
        if "digest_schedule" in changes:  # null: back to the interval
            updates["digest_schedule"] = schedule_from(changes["digest_schedule"])
        if "url" in changes or "email" in changes:
            updates["target"] = _target(current.channel, changes, policy, check_address)
        updated = current.changed(clock(), **updates)
        if not uow.subscriptions.save(updated, read_version=current.version):
            raise _stale(subscription_id)
        uow.commit()
    return updated


def delete_subscription(uow: UnitOfWork, caller: Caller, subscription_id: str,
                        expected_version: int) -> None:
    """Delete a subscription read at ``expected_version``; StaleVersion if it changed since."""
    require_writing_role(caller)
    with uow:
        current = _existing(uow.subscriptions, subscription_id, caller)
        require_write(caller, current.department)
        _require_version(current, expected_version)
        if not uow.subscriptions.remove(subscription_id, read_version=current.version):
            raise _stale(subscription_id)
        uow.commit()


def get_subscription(uow: UnitOfWork, caller: Caller, subscription_id: str) -> Subscription:
    with uow:
        return _existing(uow.subscriptions, subscription_id, caller)


def list_subscriptions(uow: UnitOfWork, caller: Caller, *, department: str | None,
                       channel: str | None, recipient: str | None, offset: int,
                       limit: int) -> tuple[list[Subscription], int]:
    """The subscriptions the caller may see (none for a viewer), filtered.

    Raises :class:`UnknownReference` for a ``department`` the service never heard of: no
    objective it owns or co-owns, no link from it, and (asked by a caller who may see every
    department's subscriptions) no subscription of it."""
    everything, own = visible_department(caller)
    shown = department if everything else own if department in (None, own) else None
    with uow:
        found: tuple[list[Subscription], int] = ([], 0)
        if everything or shown is not None:
            found = uow.subscriptions.page(department=shown, channel=channel,
                                           recipient=recipient, offset=offset, limit=limit)
        # Whether a department has subscriptions is asked only for a caller who may see
        # them: for the others, a department known by its objectives and links alone (which
        # every token may read) gets an empty list, so the answer tells nothing more.
        if department is not None and found[1] == 0 and not (
                (everything and uow.subscriptions.page(department=department, channel=None,
                                                       recipient=None, offset=0,
                                                       limit=1)[1])
                or uow.goals.knows_department(department)):
            raise UnknownReference(f"no subscription, objective or link of a department "
                                   f"{department!r} is known to the notifications service",
                                   field="department")
        return found


def _require_version(current: Subscription, expected_version: int) -> None:
    if current.version != expected_version:
        raise StaleVersion(f"subscription {current.id} is at version {current.version}, not "
                           f"{expected_version}: read it again")


def _stale(subscription_id: str) -> StaleVersion:
    return StaleVersion(f"subscription {subscription_id} was changed meanwhile: read it again")


def _existing(subscriptions: Subscriptions, subscription_id: str,
              caller: Caller) -> Subscription:
    """The subscription, if it exists and the caller may see it; else NotFound."""
    subscription = subscriptions.get(subscription_id)
    if subscription is None:
        raise NotFound(f"no subscription {subscription_id}")
    require_visible(caller, subscription.department, f"subscription {subscription_id}")
    return subscription


def _target(channel: Channel, fields: dict[str, Any], policy: TargetPolicy,
            check_address: AddressCheck) -> str:
    if channel.has_url:
        url = fields.get("url")
        if not url:
            raise InvalidInput(f"a {channel.value} subscription needs a 'url'", "url")
        if fields.get("email"):
            raise InvalidInput(f"a {channel.value} subscription has no 'email'", "email")
        host = check_webhook_url(url, policy)
        port = urlsplit(url).port
        if port is None:
            port = 443 if url.lower().startswith("https") else 80
        refusal = check_address(host, port, policy)
        if refusal:
            raise InvalidInput(f"refused webhook target: {refusal}", "url")
        return str(url)
    email = fields.get("email")
    if not email:
        raise InvalidInput("an e-mail subscription needs an 'email'", "email")
    if fields.get("url"):
        raise InvalidInput("an e-mail subscription has no 'url'", "url")
    return str(email)
