"""Use cases on subscriptions and deliveries, each in one transaction, with the caller's rights.

Admins manage every subscription; heads manage the subscriptions of their own department;
viewers (and heads, for other departments) read only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine

from services.notifications.adapters.deliveries import Delivery, DeliveryRepository
from services.notifications.adapters.repositories import SubscriptionRepository
from services.notifications.adapters.webhooks import refused_address
from services.notifications.domain.errors import Forbidden, InvalidInput, NotFound, StaleVersion
from services.notifications.domain.subscriptions import (
    Channel,
    DeliveryMode,
    Filters,
    Subscription,
)
from services.notifications.domain.targets import TargetPolicy, check_webhook_url
from shared.clock import Clock, system_clock
from shared.identity import Caller
from shared.persistence.engine import writing


def _require_write(caller: Caller, department: str | None) -> None:
    if caller.may_write_for(department):
        return
    if caller.role == "head":
        raise Forbidden(f"a head of {caller.department} manages only subscriptions of "
                        f"department {caller.department!r}")
    raise Forbidden(f"role {caller.role!r} may only read subscriptions")


def create_subscription(engine: Engine, caller: Caller, policy: TargetPolicy,
                        default_digest_seconds: int, fields: dict[str, Any],
                        clock: Clock = system_clock) -> Subscription:
    department = fields.get("department")
    if department is None and caller.role == "head":
        department = caller.department
    _require_write(caller, department)
    channel = Channel(fields["channel"])
    target = _target(channel, fields, policy)
    subscription = Subscription.new(
        recipient=fields["recipient"], department=department, channel=channel, target=target,
        secret=fields.get("secret"), filters=Filters.from_dict(fields.get("filters")),
        mode=DeliveryMode(fields.get("mode", DeliveryMode.IMMEDIATE.value)),
        digest_interval_seconds=fields.get("digest_interval_seconds") or default_digest_seconds,
        created_by=caller.name, now=clock())
    with writing(engine).begin() as connection:
        SubscriptionRepository(connection).add(subscription)
    return subscription


def update_subscription(engine: Engine, caller: Caller, policy: TargetPolicy,
                        subscription_id: str, changes: dict[str, Any],
                        expected_version: int, clock: Clock = system_clock) -> Subscription:
    """Change a subscription read at ``expected_version``; StaleVersion if it changed since."""
    with writing(engine).begin() as connection:
        repository = SubscriptionRepository(connection)
        current = _existing(repository, subscription_id)
        _require_write(caller, current.department)
        _require_version(current, expected_version)
        updates: dict[str, Any] = {}
        for name in ("recipient", "digest_interval_seconds", "secret"):
            if name in changes:
                updates[name] = changes[name]
        if "mode" in changes:
            updates["mode"] = DeliveryMode(changes["mode"])
        if "filters" in changes:
            updates["filters"] = Filters.from_dict(changes["filters"])
        if "url" in changes or "email" in changes:
            updates["target"] = _target(current.channel, changes, policy)
        updated = current.changed(clock(), **updates)
        if not repository.save(updated, read_version=current.version):
            raise _stale(subscription_id)
    return updated


def delete_subscription(engine: Engine, caller: Caller, subscription_id: str,
                        expected_version: int) -> None:
    """Delete a subscription read at ``expected_version``; StaleVersion if it changed since."""
    with writing(engine).begin() as connection:
        repository = SubscriptionRepository(connection)
        current = _existing(repository, subscription_id)
        _require_write(caller, current.department)
        _require_version(current, expected_version)
        if not repository.remove(subscription_id, read_version=current.version):
            raise _stale(subscription_id)


def get_subscription(engine: Engine, subscription_id: str) -> Subscription:
    with engine.connect() as connection:
        return _existing(SubscriptionRepository(connection), subscription_id)


def list_subscriptions(engine: Engine, *, department: str | None, channel: str | None,
                       recipient: str | None, offset: int,
                       limit: int) -> tuple[list[Subscription], int]:
    with engine.connect() as connection:
        return SubscriptionRepository(connection).page(
            department=department, channel=channel, recipient=recipient, offset=offset,
            limit=limit)


def list_deliveries(engine: Engine, *, status: str | None, subscription_id: str | None,
                    offset: int, limit: int) -> tuple[list[Delivery], int]:
    with engine.connect() as connection:
        return DeliveryRepository(connection).page(
            status=status, subscription_id=subscription_id,
            offset=offset, limit=limit)


def retry_delivery(engine: Engine, caller: Caller, delivery_id: str,
                   clock: Clock = system_clock) -> Delivery:
    """Send a delivery again as soon as possible, under the same id (``webhook-id``)."""
    with writing(engine).begin() as connection:
        deliveries = DeliveryRepository(connection)
        delivery = deliveries.get(delivery_id)
        if delivery is None:
            raise NotFound(f"no delivery {delivery_id}")
        subscription = SubscriptionRepository(connection).get(delivery.subscription_id)
        if subscription is None:
            raise InvalidInput("its subscription was deleted; it cannot be sent again")
        _require_write(caller, subscription.department)
        deliveries.retry(delivery, clock())
        retried = deliveries.get(delivery_id)
    assert retried is not None
    return retried


def _require_version(current: Subscription, expected_version: int) -> None:
    if current.version != expected_version:
        raise StaleVersion(f"subscription {current.id} is at version {current.version}, not "
                           f"{expected_version}: read it again")


def _stale(subscription_id: str) -> StaleVersion:
    return StaleVersion(f"subscription {subscription_id} was changed meanwhile: read it again")


def _existing(repository: SubscriptionRepository, subscription_id: str) -> Subscription:
    subscription = repository.get(subscription_id)
    if subscription is None:
        raise NotFound(f"no subscription {subscription_id}")
    return subscription


def _target(channel: Channel, fields: dict[str, Any], policy: TargetPolicy) -> str:
    if channel is Channel.WEBHOOK:
        url = fields.get("url")
        if not url:
            raise InvalidInput("a webhook subscription needs a 'url'", "url")
        if fields.get("email"):
            raise InvalidInput("a webhook subscription has no 'email'", "email")
        host = check_webhook_url(url, policy)
        port = urlsplit(url).port or (443 if url.lower().startswith("https") else 80)
        refusal = refused_address(host, port, policy)
        if refusal:
            raise InvalidInput(f"refused webhook target: {refusal}", "url")
        return str(url)
    email = fields.get("email")
    if not email:
        raise InvalidInput("an e-mail subscription needs an 'email'", "email")
    if fields.get("url"):
        raise InvalidInput("an e-mail subscription has no 'url'", "url")
    return str(email)
