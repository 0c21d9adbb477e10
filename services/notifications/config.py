"""Notification service settings, from the environment (see the README's table)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.notifications.domain.retries import RetrySchedule
from services.notifications.domain.targets import TargetPolicy
from shared.config import (
    AuthSettings,
    ConfigurationError,
    KafkaSettings,
    RelaySettings,
    database_url,
    env_bool,
    env_float,
    env_int,
    env_retention,
    env_str,
    optional_days,
    processed_events_retention_hours,
)
from shared.contract import NOTIFICATIONS_SOURCE

SERVICE = "notifications"
CONSUMER_GROUP = "okr-notifications"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None
    sender: str
    timeout_seconds: float = 10.0
    ca_bundle: str | None = None
    """Certificates the server's STARTTLS certificate is checked against (default: the
    system's)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        return cls(
            host=env_str("OKR_SMTP_HOST", "127.0.0.1", environ),
            port=env_int("OKR_SMTP_PORT", 25, environ),
            starttls=env_bool("OKR_SMTP_STARTTLS", False, environ),
            username=env_str("OKR_SMTP_USERNAME", "", environ) or None,
            password=env_str("OKR_SMTP_PASSWORD", "", environ) or None,
            sender=env_str("OKR_SMTP_FROM", "okr-notifications@localhost", environ),
            timeout_seconds=env_float("OKR_SMTP_TIMEOUT_SECONDS", 10.0, environ),
            ca_bundle=env_str("OKR_SMTP_CA_BUNDLE", "", environ) or None,
        )


@dataclass(frozen=True)
class DeliverySettings:
    """How the worker sends: batch size, leases, timeouts, throttling and digests."""

    retry: RetrySchedule
    targets: TargetPolicy
    hourly_cap: int
    digest_interval_seconds: int
    poll_seconds: float
    lease_seconds: float
    batch_size: int
    concurrency: int
    webhook_timeout_seconds: float
    ca_bundle: str | None = None
    """Certificates webhook targets' are checked against (default: certifi's bundle)."""
    settle_seconds: float = 0.0
    """How long a status must hold before it is announced at once (0: at once)."""
    console_url: str | None = None
    """The web console's address: Slack and Teams messages link to the item there."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DeliverySettings:
        prefix = "OKR_NOTIFICATIONS_"
        return cls(
            retry=RetrySchedule(
                base_seconds=env_float(prefix + "RETRY_BASE_SECONDS", 30.0, environ),
                max_delay_seconds=env_float(prefix + "RETRY_MAX_DELAY_SECONDS", 3600.0, environ),
                max_attempts=env_int(prefix + "MAX_ATTEMPTS", 8, environ),
                jitter=env_float(prefix + "RETRY_JITTER", 0.2, environ),
            ),
            targets=TargetPolicy(
                allow_private=env_bool(prefix + "ALLOW_PRIVATE_TARGETS", False, environ),
                allow_loopback=env_bool(prefix + "ALLOW_LOOPBACK_TARGETS", False, environ),
            ),
            hourly_cap=env_int(prefix + "HOURLY_CAP", 10, environ),
            digest_interval_seconds=env_int(prefix + "DIGEST_INTERVAL_SECONDS", 3600, environ),
            poll_seconds=env_float(prefix + "POLL_SECONDS", 0.5, environ),
            lease_seconds=env_float(prefix + "LEASE_SECONDS", 60.0, environ),
            batch_size=env_int(prefix + "BATCH_SIZE", 50, environ),
            concurrency=env_int(prefix + "CONCURRENCY", 8, environ),
            webhook_timeout_seconds=env_float(prefix + "WEBHOOK_TIMEOUT_SECONDS", 5.0, environ),
            ca_bundle=env_str(prefix + "CA_BUNDLE", "", environ) or None,
            settle_seconds=_not_negative(prefix + "SETTLE_SECONDS",
                                         env_float(prefix + "SETTLE_SECONDS", 600.0, environ)),
            console_url=_http_url("OKR_CONSOLE_URL", env_str("OKR_CONSOLE_URL", "", environ)),
        )


def _http_url(name: str, value: str) -> str | None:
    if not value:
        return None
    if not value.startswith(("http://", "https://")) or any(c.isspace() for c in value):
        raise ConfigurationError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _not_negative(name: str, value: float) -> float:
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, got {value:g}")
    return value


@dataclass(frozen=True)
class NotificationsConfig:
    database_url: str
    kafka: KafkaSettings
    relay: RelaySettings
    delivery: DeliverySettings
    smtp: SmtpSettings
    auth: AuthSettings
    consumer_max_records: int
    host: str
    port: int
    worker_metrics_port: int
    event_source: str
    log_level: str
    log_json: bool
    idempotency_retention_hours: float = 72.0
    """How long an ``Idempotency-Key`` is remembered: a retry within it is applied once."""
    processed_events_retention_hours: float = 336.0
    """How long the worker remembers the id of an event it applied."""
    delivery_retention_days: float = 30.0
    """How long a delivered or dead delivery (and a digest's items) is kept."""
    consumer_batch_records: int = 2_000
    """Events the consumer gathers from several polls (of ``consumer_max_records`` each)
    into one transaction when it lags: what the client has fetched, or the broker is known
    to hold."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotificationsConfig:
        relay = RelaySettings.from_env(environ)
        return cls(
            database_url=database_url(SERVICE, environ),
            kafka=KafkaSettings.from_env(environ),
            relay=relay,
            delivery=DeliverySettings.from_env(environ),
            smtp=SmtpSettings.from_env(environ),
            auth=AuthSettings.from_env(environ),
            # A batch must be handled well within max_poll_interval_ms; a larger one shares
            # the transaction's round trips and commit among more events (docs/performance.md)
            consumer_max_records=env_int("OKR_NOTIFICATIONS_CONSUMER_MAX_RECORDS", 500,
                                         environ),
            consumer_batch_records=env_int("OKR_NOTIFICATIONS_CONSUMER_BATCH_RECORDS", 2000,
                                           environ),
            host=env_str("OKR_HOST", "127.0.0.1", environ),
            port=env_int("OKR_NOTIFICATIONS_PORT", 8083, environ),
            worker_metrics_port=env_int("OKR_NOTIFICATIONS_WORKER_METRICS_PORT", 9183, environ),
            event_source=NOTIFICATIONS_SOURCE,
            log_level=env_str("OKR_LOG_LEVEL", "INFO", environ),
            log_json=env_bool("OKR_LOG_JSON", True, environ),
            idempotency_retention_hours=env_retention(
                "OKR_IDEMPOTENCY_RETENTION_HOURS", 72.0, "hours", environ),
            processed_events_retention_hours=processed_events_retention_hours(relay, environ),
            delivery_retention_days=optional_days("OKR_DELIVERY_RETENTION_DAYS", environ) or 30.0,
        )
