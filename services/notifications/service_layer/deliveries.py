"""Use cases on deliveries: list them, send one again."""

from __future__ import annotations

from services.notifications.domain.deliveries import Delivery
from services.notifications.domain.errors import InvalidInput, NotFound
from services.notifications.domain.permissions import (
    require_visible,
    require_write,
    require_writing_role,
    visible_department,
)
from services.notifications.service_layer.unit_of_work import UnitOfWork
from shared.clock import Clock, system_clock
from shared.identity import Caller


def list_deliveries(uow: UnitOfWork, caller: Caller, *, status: str | None,
                    subscription_id: str | None, offset: int,
                    limit: int) -> tuple[list[Delivery], int]:
    """The deliveries the caller may see: an admin all, a head those of the subscriptions
    of their department, anyone else none."""
    everything, own = visible_department(caller)
    if not everything and own is None:
        return [], 0
    with uow:
        return uow.deliveries.page(status=status, subscription_id=subscription_id,
                                   offset=offset, limit=limit, department=own)


def retry_delivery(uow: UnitOfWork, caller: Caller, delivery_id: str,
                   clock: Clock = system_clock) -> Delivery:
    """Send a delivery again as soon as possible, under the same id (``webhook-id``)."""
    require_writing_role(caller)
    with uow:
        delivery = uow.deliveries.get(delivery_id)
        if delivery is None:
            raise NotFound(f"no delivery {delivery_id}")
        subscription = uow.subscriptions.get(delivery.subscription_id)
        if subscription is None:
            require_visible(caller, None, f"delivery {delivery_id}")  # admins only
            raise InvalidInput("its subscription was deleted; it cannot be sent again")
        require_visible(caller, subscription.department, f"delivery {delivery_id}")
        require_write(caller, subscription.department)
        uow.deliveries.retry(delivery, clock())
        retried = uow.deliveries.get(delivery_id)
        uow.commit()
    assert retried is not None
    return retried
