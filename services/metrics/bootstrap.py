"""The metrics service's composition root: the one place that builds real adapters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Engine

from services.metrics.adapters import tables
from services.metrics.adapters.topic_replay import TopicReplay
from services.metrics.adapters.unit_of_work import SqlUnitOfWork
from services.metrics.config import SERVICE, MetricsConfig
from services.metrics.service_layer.projection import RollupProjection
from services.metrics.service_layer.rollup_events import RollupEvents
from shared.clock import Clock, system_clock
from shared.contract import Topic
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.relay import OutboxRelay
from shared.persistence.engine import create_database_engine
from shared.persistence.outbox import Outbox
from shared.persistence.retention import Retention, purges_of
from shared.runtime.housekeeping import Purge


@dataclass
class Metrics:
    """Everything a metrics process needs, built once per process."""

    config: MetricsConfig
    engine: Engine
    outbox: Outbox

    def unit_of_work(self, connection: Connection | None = None, *,
                     writes: bool = True) -> SqlUnitOfWork:
        """A unit of work on its own transaction, or inside ``connection``'s."""
        return SqlUnitOfWork(self.engine, self.outbox, connection=connection, writes=writes)

    def projection(self, publish: bool = True, clock: Clock = system_clock,
                   forecasts: bool = True) -> RollupProjection:
        """An empty projection (call ``load``); ``publish=False`` writes no roll-up events;
        ``forecasts=False`` keeps no check-in windows and puts no forecast or why on the
        events (the benchmark's baseline)."""
        return RollupProjection(self.unit_of_work,
                                RollupEvents(self.config.event_source, enabled=publish,
                                             explain=forecasts),
                                self.config.thresholds, clock, forecasts)

    def consumer(self, projection: RollupProjection) -> ConsumerRunner:
        return ConsumerRunner(service=SERVICE, group_id=self.config.consumer_group,
                              topics=[Topic.GOALS.value], batch_handler=projection.apply,
                              on_rollback=projection.rolled_back, engine=self.engine,
                              processed_events=tables.plumbing.processed_events,
                              kafka=self.config.kafka, max_records=self.config.batch_size,
                              batch_records=self.config.batch_records, read_ahead=True)

    def goal_events_replay(self) -> TopicReplay:
        """``okr.goals.v1`` from its beginning to its end, outside the consumer group."""
        return TopicReplay(self.config.kafka, Topic.GOALS.value, "okr-metrics-rebuild")

    def purges(self) -> dict[str, Purge]:
        """What the consumer process's housekeeping loop deletes, by table (docs/operations.md,
        Storage and retention)."""
        return purges_of(self.engine, [
            Retention(tables.plumbing.processed_events, "processed_at",
                      timedelta(hours=self.config.processed_events_retention_hours))])

    def relay(self) -> OutboxRelay:
        return OutboxRelay(service=SERVICE, engine=self.engine,
                           outbox_table=tables.plumbing.outbox, kafka=self.config.kafka,
                           settings=self.config.relay)


def bootstrap(config: MetricsConfig | None = None) -> Metrics:
    config = config or MetricsConfig.from_env()
    engine = create_database_engine(config.database_url)
    return Metrics(config=config, engine=engine, outbox=Outbox(tables.plumbing.outbox))
