"""The notification service's unit of work on SQLAlchemy (the ``UnitOfWork`` port)."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Connection, Engine

from services.notifications.adapters.deliveries import DeliveryRepository
from services.notifications.adapters.goal_read_model import GoalReadModel
from services.notifications.adapters.subscriptions import SubscriptionRepository
from shared.cloudevents import CloudEvent
from shared.persistence.outbox import Outbox
from shared.persistence.transactions import TransactionScope


class SqlUnitOfWork:
    subscriptions: SubscriptionRepository
    deliveries: DeliveryRepository
    goals: GoalReadModel

    def __init__(self, engine: Engine | None, outbox: Outbox, *,
                 connection: Connection | None = None, writes: bool = True) -> None:
        self._scope = TransactionScope(engine, connection=connection, writes=writes)
        self._outbox = outbox

    def __enter__(self) -> SqlUnitOfWork:
        connection = self._scope.open()
        self.subscriptions = SubscriptionRepository(connection)
        self.deliveries = DeliveryRepository(connection)
        self.goals = GoalReadModel(connection)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._scope.close()

    def commit(self) -> None:
        self._scope.commit()

    def publish(self, events: list[tuple[CloudEvent, str]]) -> None:
        assert self._scope.connection is not None
        self._outbox.publish(self._scope.connection, events)
