"""Goals service settings, from the environment (see the README's table)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.config import (
    KafkaSettings,
    RelaySettings,
    database_url,
    env_bool,
    env_float,
    env_int,
    env_retention,
    env_str,
    optional_days,
)
from shared.contract import GOALS_SOURCE

SERVICE = "goals"


@dataclass(frozen=True)
class GoalsConfig:
    database_url: str
    kafka: KafkaSettings
    relay: RelaySettings
    admin_token: str | None
    host: str
    port: int
    worker_metrics_port: int
    event_source: str
    log_level: str
    log_json: bool
    idempotency_retention_hours: float = 72.0
    """How long an ``Idempotency-Key`` is remembered: a retry within it is applied once."""
    audit_retention_days: float | None = None
    """How long audit entries are kept; None (``OKR_AUDIT_RETENTION_DAYS`` unset): forever."""
    token_cache_seconds: float = 60.0
    """How long a process remembers who a token stands for (PostgreSQL; 0: never), while it
    hears revocations (services/goals/adapters/token_cache.py)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GoalsConfig:
        return cls(
            database_url=database_url(SERVICE, environ),
            kafka=KafkaSettings.from_env(environ),
            relay=RelaySettings.from_env(environ),
            admin_token=env_str("OKR_ADMIN_TOKEN", "", environ) or None,
            host=env_str("OKR_HOST", "127.0.0.1", environ),
            port=env_int("OKR_GOALS_PORT", 8081, environ),
            worker_metrics_port=env_int("OKR_GOALS_WORKER_METRICS_PORT", 9181, environ),
            event_source=GOALS_SOURCE,
            log_level=env_str("OKR_LOG_LEVEL", "INFO", environ),
            log_json=env_bool("OKR_LOG_JSON", True, environ),
            idempotency_retention_hours=env_retention(
                "OKR_IDEMPOTENCY_RETENTION_HOURS", 72.0, "hours", environ),
            audit_retention_days=optional_days("OKR_AUDIT_RETENTION_DAYS", environ),
            token_cache_seconds=env_float("OKR_TOKEN_CACHE_SECONDS", 60.0, environ),
        )
