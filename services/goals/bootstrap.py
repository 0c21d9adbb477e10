"""The goals service's composition root: the one place that builds real adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from services.goals.adapters import tables
from services.goals.config import SERVICE, GoalsConfig
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.messaging.relay import OutboxRelay
from shared.persistence.engine import create_database_engine
from shared.persistence.outbox import Outbox


@dataclass
class Goals:
    """Everything a goals process needs, built once per process."""

    config: GoalsConfig
    engine: Engine
    outbox: Outbox

    def unit_of_work(self, request_id: str | None = None) -> UnitOfWork:
        return UnitOfWork(self.engine, self.config.event_source, request_id)

    def reading(self) -> UnitOfWork:
        """A unit of work for reads only: no write lock taken, nothing to commit."""
        return UnitOfWork(self.engine, self.config.event_source, writes=False)

    def relay(self) -> OutboxRelay:
        return OutboxRelay(service=SERVICE, engine=self.engine,
                           outbox_table=tables.plumbing.outbox, kafka=self.config.kafka,
                           settings=self.config.relay)


UnitOfWorkFactory = Callable[[], UnitOfWork]


def bootstrap(config: GoalsConfig | None = None) -> Goals:
    config = config or GoalsConfig.from_env()
    engine = create_database_engine(config.database_url)
    return Goals(config=config, engine=engine, outbox=Outbox(tables.plumbing.outbox))
