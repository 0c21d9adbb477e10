"""The notification service's unit of work on SQLAlchemy (the ``UnitOfWork`` port)."""

from __future__ import annotations

from sqlalchemy import Connection

from services.notifications.adapters.deliveries import DeliveryRepository
from services.notifications.adapters.goal_read_model import GoalReadModel
from services.notifications.adapters.statuses import StatusRepository
from services.notifications.adapters.subscriptions import SubscriptionRepository
from services.notifications.adapters.tables import idempotency_keys
from shared.persistence import unit_of_work
from shared.persistence.idempotency import SqlIdempotencyKeys


class SqlUnitOfWork(unit_of_work.SqlUnitOfWork):
    subscriptions: SubscriptionRepository
    deliveries: DeliveryRepository
    goals: GoalReadModel
    statuses: StatusRepository
    idempotency: SqlIdempotencyKeys

    def _bind(self, connection: Connection) -> None:
        self.subscriptions = SubscriptionRepository(connection)
        self.deliveries = DeliveryRepository(connection)
        self.goals = GoalReadModel(connection)
        self.statuses = StatusRepository(connection)
        self.idempotency = SqlIdempotencyKeys(connection, idempotency_keys)
