"""Metrics service settings, from the environment (see the README's table)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.metrics.domain.status import StatusThresholds
from shared.config import (
    AuthSettings,
    ConfigurationError,
    KafkaSettings,
    RelaySettings,
    database_url,
    env_bool,
    env_float,
    env_int,
    env_str,
    processed_events_retention_hours,
)
from shared.contract import METRICS_SOURCE

SERVICE = "metrics"
CONSUMER_GROUP = "okr-metrics"


@dataclass(frozen=True)
class MetricsConfig:
    database_url: str
    kafka: KafkaSettings
    relay: RelaySettings
    auth: AuthSettings
    thresholds: StatusThresholds
    host: str
    port: int
    worker_metrics_port: int
    event_source: str
    consumer_group: str
    batch_size: int
    status_tick_seconds: float
    max_series: int
    log_level: str
    log_json: bool
    stale_after_days: float = 14.0  # an input without a check-in for longer is stale
    processed_events_retention_hours: float = 336.0
    """How long the consumer remembers the id of an event it applied."""
    batch_records: int = 5_000
    """Records the consumer gathers from several polls (of ``batch_size`` each) into one
    transaction when it lags: what the client has fetched, or the broker is known to hold."""

    def __post_init__(self) -> None:
        if not 0.0 < self.stale_after_days < 100_000.0:
            raise ConfigurationError("OKR_METRICS_STALE_AFTER_DAYS must be a number of days "
                                     f"above 0, got {self.stale_after_days!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MetricsConfig:
        defaults = StatusThresholds()
        relay = RelaySettings.from_env(environ)
        return cls(
            database_url=database_url(SERVICE, environ),
            kafka=KafkaSettings.from_env(environ),
            relay=relay,
            auth=AuthSettings.from_env(environ),
            thresholds=StatusThresholds(
                on_track_gap=env_float("OKR_STATUS_ON_TRACK_GAP", defaults.on_track_gap,
                                       environ),
                at_risk_gap=env_float("OKR_STATUS_AT_RISK_GAP", defaults.at_risk_gap, environ),
                on_track_confidence=env_float("OKR_STATUS_ON_TRACK_CONFIDENCE",
                                              defaults.on_track_confidence, environ),
                at_risk_confidence=env_float("OKR_STATUS_AT_RISK_CONFIDENCE",
                                             defaults.at_risk_confidence, environ),
            ),
            host=env_str("OKR_HOST", "127.0.0.1", environ),
            port=env_int("OKR_METRICS_PORT", 8082, environ),
            worker_metrics_port=env_int("OKR_METRICS_WORKER_METRICS_PORT", 9182, environ),
            event_source=METRICS_SOURCE,
            consumer_group=env_str("OKR_METRICS_CONSUMER_GROUP", CONSUMER_GROUP, environ),
            batch_size=env_int("OKR_METRICS_BATCH_SIZE", 1000, environ),
            batch_records=env_int("OKR_METRICS_BATCH_RECORDS", 5000, environ),
            status_tick_seconds=env_float("OKR_METRICS_STATUS_TICK_SECONDS", 60.0, environ),
            max_series=env_int("OKR_METRICS_MAX_SERIES", 200_000, environ),
            log_level=env_str("OKR_LOG_LEVEL", "INFO", environ),
            log_json=env_bool("OKR_LOG_JSON", True, environ),
            stale_after_days=env_float("OKR_METRICS_STALE_AFTER_DAYS", 14.0, environ),
            processed_events_retention_hours=processed_events_retention_hours(relay, environ),
        )
