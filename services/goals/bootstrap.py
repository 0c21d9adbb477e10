"""The goals service's composition root: the one place that builds real adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import Connection, Engine

from services.goals.adapters import tables
from services.goals.adapters.relay_wakeup import RelayWakeup
from services.goals.adapters.token_cache import TokenCache, token_cache_for
from services.goals.adapters.unit_of_work import SqlAlchemyUnitOfWork
from services.goals.config import SERVICE, GoalsConfig
from services.goals.service_layer.housekeeping import purge_idempotency_keys
from services.goals.service_layer.unit_of_work import UnitOfWork
from shared.clock import Clock, system_clock
from shared.messaging.relay import OutboxRelay
from shared.persistence.dialects import is_postgresql
from shared.persistence.engine import create_database_engine
from shared.persistence.outbox import Outbox
from shared.persistence.retention import Retention, purges_of
from shared.runtime.housekeeping import Purge


@dataclass
class Goals:
    """Everything a goals process needs, built once per process."""

    config: GoalsConfig
    engine: Engine
    outbox: Outbox
    wakeup: RelayWakeup | None = None
    """Wakes the relay after commits (PostgreSQL); without it, a commit NOTIFYs itself."""
    connection: Connection | None = None
    """Set while serving an HTTP request: the one connection its units of work share."""
    token_cache: TokenCache | None = None
    """Who the tokens seen lately stand for (PostgreSQL); None: look each one up."""

    def unit_of_work(self, request_id: str | None = None) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.engine, self.config.event_source, request_id,
                          connection=self.connection,
                          wake_relay=self.wakeup.committed if self.wakeup else None)

    def reading(self) -> SqlAlchemyUnitOfWork:
        """A unit of work for reads only: no write lock taken, nothing to commit."""
        return SqlAlchemyUnitOfWork(self.engine, self.config.event_source, writes=False,
                          connection=self.connection)

    def on_connection(self, connection: Connection) -> Goals:
        """The same container, its units of work sharing ``connection``."""
        return replace(self, connection=connection)

    def close(self) -> None:
        """Let every connection of this container go: its threads' and its pool's."""
        if self.token_cache is not None:
            self.token_cache.close()
        if self.wakeup is not None:
            self.wakeup.close()
        self.engine.dispose()

    def purges(self, clock: Clock = system_clock) -> dict[str, Purge]:
        """What the relay process's housekeeping loop deletes, by table (docs/operations.md,
        Storage and retention): idempotency keys, and audit entries only when
        ``OKR_AUDIT_RETENTION_DAYS`` is set. Check-ins are the record: never purged."""
        keys = timedelta(hours=self.config.idempotency_retention_hours)
        purges: dict[str, Purge] = {
            "idempotency_keys": lambda: purge_idempotency_keys(self.unit_of_work, keys, clock)}
        if self.config.audit_retention_days is not None:
            audit = timedelta(days=self.config.audit_retention_days)
            purges |= purges_of(self.engine, [Retention(tables.audit_log, "occurred_at", audit)],
                                clock)
        return purges

    def relay(self) -> OutboxRelay:
        return OutboxRelay(service=SERVICE, engine=self.engine,
                           outbox_table=tables.plumbing.outbox, kafka=self.config.kafka,
                           settings=self.config.relay)


UnitOfWorkFactory = Callable[[], UnitOfWork]


def bootstrap(config: GoalsConfig | None = None) -> Goals:
    config = config or GoalsConfig.from_env()
    engine = create_database_engine(config.database_url)
    outbox = Outbox(tables.plumbing.outbox)
    wakeup = RelayWakeup(SERVICE, engine, outbox) if is_postgresql(engine) else None
    return Goals(config=config, engine=engine, outbox=outbox, wakeup=wakeup,
                 token_cache=token_cache_for(engine, SERVICE, config.token_cache_seconds))
