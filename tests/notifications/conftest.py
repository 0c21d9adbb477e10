"""Fixtures of the notification tests: a migrated database on each engine, the service
container with fast intervals, a real webhook receiver, a real SMTP server (aiosmtpd),
and events published onto a real Tansu broker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler

from services.notifications.adapters import tables
from services.notifications.bootstrap import Notifications, bootstrap
from services.notifications.config import (
    DeliverySettings,
    NotificationsConfig,
    SmtpSettings,
)
from services.notifications.domain.retries import RetrySchedule
from services.notifications.domain.targets import TargetPolicy
from services.notifications.entrypoints.cli import MIGRATIONS
from shared.cloudevents import CloudEvent
from shared.config import AuthSettings, KafkaSettings, RelaySettings
from shared.messaging.kafka_clients import ensure_topics, new_producer
from tests.conftest import free_port
from tests.notifications.builders import new_secret
from tests.notifications.receiver import WebhookReceiver
from tests.support.databases import PostgresDatabases, require_postgres

FAST = DeliverySettings(
    retry=RetrySchedule(base_seconds=0.2, max_delay_seconds=1.0, max_attempts=4, jitter=0.2),
    targets=TargetPolicy(allow_loopback=True), hourly_cap=3, digest_interval_seconds=2,
    poll_seconds=0.05, lease_seconds=3.0, batch_size=50, concurrency=4,
    webhook_timeout_seconds=2.0)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def notifications_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated notifications database of its own, on each engine."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_databases").new("notifications", MIGRATIONS,
                                                              tmp_path)
        return
    require_postgres()
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = databases.shared("notifications", MIGRATIONS)
    names = [t.name for t in tables.metadata.sorted_tables if t.name != "subscription_revision"]
    databases.reset(url, names)
    yield url




@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpSettings, list[Any]]]:
    """A real SMTP server (aiosmtpd) on a free port; yields its settings and its inbox."""
    inbox: list[Any] = []

    class Inbox(MessageHandler):
        def handle_message(self, message: Any) -> None:
            inbox.append(message)

    controller = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    settings = SmtpSettings(host="127.0.0.1", port=controller.port, starttls=False,
                            username=None, password=None, sender="okr@example.org",
                            timeout_seconds=5.0)
    yield settings, inbox
    controller.stop()


@pytest.fixture
def notifications_config(notifications_database_url: str,
                         request: pytest.FixtureRequest) -> NotificationsConfig:
    kafka = (request.getfixturevalue("kafka_settings") if "kafka_settings" in request.fixturenames
             else KafkaSettings("127.0.0.1:1", 3, 1, 2_000, 6_000, 3_000))
    return NotificationsConfig(
        database_url=notifications_database_url, kafka=kafka,
        relay=RelaySettings(batch_size=500, fallback_poll_seconds=0.5, sqlite_poll_seconds=0.02,
                            retention_hours=24.0, topic_check_seconds=30.0),
        delivery=FAST,
        smtp=SmtpSettings("127.0.0.1", 1, False, None, None, "okr@example.org", 2.0),
        auth=AuthSettings(goals_url="http://127.0.0.1:1", cache_seconds=30.0),
        consumer_max_records=25,
        host="127.0.0.1", port=0, worker_metrics_port=0, event_source="/okr/notifications",
        log_level="INFO", log_json=False)


@pytest.fixture
def notifications(notifications_config: NotificationsConfig) -> Iterator[Notifications]:
    container = bootstrap(notifications_config)
    yield container
    container.engine.dispose()


def with_delivery(container: Notifications, **changes: Any) -> Notifications:
    """The same container with other delivery settings."""
    config = replace(container.config, delivery=replace(container.config.delivery, **changes))
    return Notifications(config=config, engine=container.engine, outbox=container.outbox)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    started = WebhookReceiver(new_secret()).start()
    yield started
    started.released.set()
    started.stop()


@pytest.fixture
def publish(kafka_settings: KafkaSettings) -> Iterator[Callable[[list[CloudEvent]], None]]:
    """Publish CloudEvents onto their topics (keyed by objective), as the other services do."""
    ensure_topics(kafka_settings, "test-notifications-admin")
    producer = new_producer(kafka_settings, "test-notifications-publisher")

    def send(events: list[CloudEvent]) -> None:
        from shared.contract import TOPIC_OF, EventType

        for event in events:
            # keyed by the objective whose tree the event concerns, as the services do
            key = (event.data.get("objective_id") or event.data.get("key_result", {}).get(
                "objective_id") or event.data.get("id") or event.subject)
            producer.send(TOPIC_OF[EventType(event.type)].value, key=str(key).encode(),
                          value=event.to_json())
        producer.flush(timeout=10)

    yield send
    producer.close(timeout=5)


def worker_environment(config: NotificationsConfig, kafka: KafkaSettings) -> dict[str, str]:
    delivery = config.delivery
    return {
        "OKR_NOTIFICATIONS_DATABASE_URL": config.database_url,
        "OKR_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "OKR_KAFKA_TOPIC_PARTITIONS": str(kafka.topic_partitions),
        "OKR_KAFKA_MAX_POLL_INTERVAL_MS": str(kafka.max_poll_interval_ms),
        "OKR_KAFKA_SESSION_TIMEOUT_MS": str(kafka.session_timeout_ms),
        "OKR_KAFKA_REQUEST_TIMEOUT_MS": str(kafka.request_timeout_ms),
        "OKR_NOTIFICATIONS_RETRY_BASE_SECONDS": str(delivery.retry.base_seconds),
        "OKR_NOTIFICATIONS_RETRY_MAX_DELAY_SECONDS": str(delivery.retry.max_delay_seconds),
        "OKR_NOTIFICATIONS_MAX_ATTEMPTS": str(delivery.retry.max_attempts),
        "OKR_NOTIFICATIONS_ALLOW_LOOPBACK_TARGETS": "true",
        "OKR_NOTIFICATIONS_POLL_SECONDS": str(delivery.poll_seconds),
        "OKR_NOTIFICATIONS_LEASE_SECONDS": str(delivery.lease_seconds),
        "OKR_NOTIFICATIONS_DIGEST_INTERVAL_SECONDS": str(delivery.digest_interval_seconds),
        "OKR_NOTIFICATIONS_SETTLE_SECONDS": str(delivery.settle_seconds),
        "OKR_NOTIFICATIONS_WORKER_METRICS_PORT": "0",
        "OKR_NOTIFICATIONS_CONSUMER_MAX_RECORDS": str(config.consumer_max_records),
        "OKR_LOG_JSON": "false",
    }


def okr_notifications() -> str:
    return str(Path(sys.executable).with_name("okr-notifications"))


__all__ = ["FAST", "okr_notifications", "with_delivery", "worker_environment"]


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate (openssl) for hooks.tls.test, localhost and 127.0.0.1, and
    its key: the trusted issuer of whichever test passes it as the CA bundle."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=hooks.tls.test",
         "-addext", "subjectAltName=DNS:hooks.tls.test,DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return cert, key
