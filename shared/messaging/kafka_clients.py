"""Kafka clients configured the way the platform needs them, and topic administration.

Tansu (the embedded broker) creates any topic a metadata request names, with 4 partitions,
whatever ``allow_auto_create_topics`` says; so every process calls :func:`ensure_topics`
before its producers or consumers touch a topic.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from shared.config import KafkaSettings
from shared.contract import ALL_TOPICS

log = logging.getLogger(__name__)


def new_producer(settings: KafkaSettings, client_id: str, **overrides: object) -> KafkaProducer:
    config: dict[str, object] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,  # keeps per-partition order across retries
        "linger_ms": 2,
        "request_timeout_ms": settings.request_timeout_ms,
        "max_block_ms": settings.request_timeout_ms,
        "allow_auto_create_topics": False,
        "reconnect_backoff_max_ms": 1_000,
        **settings.client_security(),
    }
    config.update(overrides)
    return KafkaProducer(**config)


def new_consumer(
    settings: KafkaSettings, client_id: str, group_id: str | None, **overrides: object
) -> KafkaConsumer:
    config: dict[str, object] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": client_id,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_interval_ms": settings.max_poll_interval_ms,
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": max(100, settings.session_timeout_ms // 3),
        "request_timeout_ms": max(settings.request_timeout_ms, settings.session_timeout_ms + 1_000),
        "allow_auto_create_topics": False,
        "reconnect_backoff_max_ms": 1_000,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        **settings.client_security(),
    }
    config.update(overrides)
    return KafkaConsumer(**config)


def new_admin(settings: KafkaSettings, client_id: str) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        request_timeout_ms=settings.request_timeout_ms,
        reconnect_backoff_max_ms=1_000,
        **settings.client_security(),
    )


def ensure_topics(
    settings: KafkaSettings, client_id: str, topics: Iterable[str] = ALL_TOPICS
) -> set[str]:
    """Create whichever of ``topics`` are missing; return the names that had to be created."""
    admin = new_admin(settings, client_id)
    try:
        existing = set(admin.list_topics())
        missing = [name for name in topics if name not in existing]
        if missing:
            new = [
                NewTopic(name, settings.topic_partitions, settings.replication_factor)
                for name in missing
            ]
            # Another process may win the race: the topic exists, which is all we need.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
            log.info("created topics", extra={"topics": missing})
        return set(missing)
    finally:
        admin.close()


def broker_reachable(settings: KafkaSettings, timeout: float = 1.0) -> bool:
    """True when a TCP connection to one of the bootstrap servers succeeds."""
    for server in settings.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


__all__ = [
    "KafkaError",
    "broker_reachable",
    "ensure_topics",
    "new_admin",
    "new_consumer",
    "new_producer",
]
