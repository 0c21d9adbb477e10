"""The notification service's composition root: the one place that builds real adapters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Engine

from services.notifications.adapters import tables
from services.notifications.adapters.deliveries import UNREFERENCED_NOTICE
from services.notifications.adapters.email import EmailSender
from services.notifications.adapters.unit_of_work import SqlUnitOfWork
from services.notifications.adapters.webhooks import (
    ChatSender,
    WebhookSender,
    refused_address,
)
from services.notifications.config import CONSUMER_GROUP, SERVICE, NotificationsConfig
from services.notifications.domain.chat import slack_payload, teams_payload
from services.notifications.domain.deliveries import DEAD, DELIVERED
from services.notifications.domain.subscriptions import Channel
from services.notifications.service_layer.delivering import DeliveryLoop
from services.notifications.service_layer.handling import NotificationHandler
from services.notifications.service_layer.subscriptions import AddressCheck
from shared.contract import Topic
from shared.idempotency import purge_keys
from shared.messaging.consumer import ConsumerRunner
from shared.messaging.relay import OutboxRelay
from shared.persistence.engine import create_database_engine
from shared.persistence.outbox import Outbox
from shared.persistence.retention import Retention, purges_of
from shared.runtime.housekeeping import Purge


@dataclass
class Notifications:
    """Everything a notifications process needs, built once per process."""

    config: NotificationsConfig
    engine: Engine
    outbox: Outbox
    check_address: AddressCheck = refused_address
    """Why a webhook may not call an address (resolving its host now), or None."""

    def unit_of_work(self, connection: Connection | None = None, *,
                     writes: bool = True) -> SqlUnitOfWork:
        """A unit of work on its own transaction, or inside ``connection``'s."""
        return SqlUnitOfWork(self.engine, self.outbox, connection=connection, writes=writes)

    def reading(self) -> SqlUnitOfWork:
        """A unit of work for reads only: no write lock taken, nothing to commit."""
        return self.unit_of_work(writes=False)

    def handler(self, hourly_cap: int | None = None) -> NotificationHandler:
        """The consumer's handler (``hourly_cap``: the configured cap unless given)."""
        cap = self.config.delivery.hourly_cap if hourly_cap is None else hourly_cap
        return NotificationHandler(cap, self.unit_of_work,
                                   settle_seconds=self.config.delivery.settle_seconds)

    def consumer(self, handler: NotificationHandler | None = None) -> ConsumerRunner:
        """The worker's consumer, applying batches with ``handler`` (a new one unless given)."""
        return ConsumerRunner(
            service=SERVICE, group_id=CONSUMER_GROUP,
            topics=[Topic.GOALS.value, Topic.ROLLUPS.value],
            batch_handler=(handler or self.handler()).handle_batch,
            engine=self.engine, processed_events=tables.plumbing.processed_events,
            kafka=self.config.kafka, max_records=self.config.consumer_max_records,
            batch_records=self.config.consumer_batch_records, read_ahead=True)

    def delivery_loop(self) -> DeliveryLoop:
        delivery = self.config.delivery
        return DeliveryLoop(
            units=self.unit_of_work, settings=delivery,
            senders={Channel.WEBHOOK.value: WebhookSender(delivery.targets,
                                                          delivery.webhook_timeout_seconds,
                                                          delivery.ca_bundle),
                     Channel.EMAIL.value: EmailSender(self.config.smtp),
                     Channel.SLACK.value: ChatSender(
                         delivery.targets, delivery.webhook_timeout_seconds, slack_payload,
                         delivery.console_url, delivery.ca_bundle),
                     Channel.TEAMS.value: ChatSender(
                         delivery.targets, delivery.webhook_timeout_seconds, teams_payload,
                         delivery.console_url, delivery.ca_bundle)},
            event_source=self.config.event_source)

    def purges(self) -> dict[str, Purge]:
        """What the worker's housekeeping loop deletes, by table (docs/operations.md,
        Storage and retention)."""
        config = self.config
        settled = timedelta(days=config.delivery_retention_days)
        retentions = [
            Retention(tables.plumbing.processed_events, "processed_at",
                      timedelta(hours=config.processed_events_retention_hours)),
            # A pending delivery is still owed: only delivered and dead ones age out.
            Retention(tables.deliveries, "updated_at", settled,
                      only=tables.deliveries.c.status.in_((DELIVERED, DEAD))),
            # The items a digest carried (its delivery holds their notices); waiting ones stay.
            Retention(tables.digest_items, "created_at", settled,
                      only=tables.digest_items.c.delivery_id.is_not(None)),
            # A notice goes once no delivery or digest item carries it (only rows written
            # in its own transaction ever reference it, so an old one gains none).
            Retention(tables.notices, "created_at", settled, only=UNREFERENCED_NOTICE),
        ]
        keys = timedelta(hours=config.idempotency_retention_hours)
        return {"idempotency_keys": lambda: purge_keys(self.unit_of_work,
                                                       lambda uow: uow.idempotency, keys),
                **purges_of(self.engine, retentions)}

    def relay(self) -> OutboxRelay:
        return OutboxRelay(service=SERVICE, engine=self.engine,
                           outbox_table=tables.plumbing.outbox, kafka=self.config.kafka,
                           settings=self.config.relay)


def bootstrap(config: NotificationsConfig | None = None) -> Notifications:
    config = config or NotificationsConfig.from_env()
    engine = create_database_engine(config.database_url)
    return Notifications(config=config, engine=engine, outbox=Outbox(tables.plumbing.outbox))

