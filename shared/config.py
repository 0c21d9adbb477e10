"""Settings read from the environment, and nowhere else.

Typed readers of one variable each (``env_str``, ``env_int``, ``env_float``, ``env_bool``)
and the settings every service shares (:class:`KafkaSettings`, :class:`RelaySettings`,
:class:`AuthSettings`, ``database_url``); each service's own ``config`` module builds its
settings from them. Every variable read here is listed, with its default, in the README.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ConfigurationError(ValueError):
    """An environment variable holds a value the platform cannot use."""


def env_str(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    value = (environ if environ is not None else os.environ).get(name, "").strip()
    return value or default


def env_int(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    raw = env_str(name, str(default), environ)
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None


def env_float(name: str, default: float, environ: Mapping[str, str] | None = None) -> float:
    raw = env_str(name, str(default), environ)
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    raw = env_str(name, "true" if default else "false", environ).lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str
    topic_partitions: int
    replication_factor: int
    max_poll_interval_ms: int
    session_timeout_ms: int
    request_timeout_ms: int
    # Tansu holds every fetch for the whole wait even when records are ready, so this
    # bounds the delay a consumer adds per hop.
    fetch_max_wait_ms: int = 100
    # Who this process is to the broker. In production each service signs in as its own
    # user (SASL), and Kafka ACLs let only a topic's producer write it (docker-compose.yml,
    # deploy/k8s/kafka-users). PLAINTEXT (no sign-in) for the embedded broker.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = ""
    sasl_password: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaSettings:
        port = env_int("OKR_KAFKA_PORT", 9092, environ)
        return cls(
            bootstrap_servers=env_str(
                "OKR_KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{port}", environ
            ),
            topic_partitions=env_int("OKR_KAFKA_TOPIC_PARTITIONS", 3, environ),
            replication_factor=env_int("OKR_KAFKA_REPLICATION_FACTOR", 1, environ),
            # Tansu waits the whole rebalance timeout (kafka-python sends
            # max_poll_interval_ms) before a join completes: keep it short.
            max_poll_interval_ms=env_int("OKR_KAFKA_MAX_POLL_INTERVAL_MS", 10_000, environ),
            session_timeout_ms=env_int("OKR_KAFKA_SESSION_TIMEOUT_MS", 10_000, environ),
            request_timeout_ms=env_int("OKR_KAFKA_REQUEST_TIMEOUT_MS", 5_000, environ),
            fetch_max_wait_ms=env_int("OKR_KAFKA_FETCH_MAX_WAIT_MS", 100, environ),
            security_protocol=env_str("OKR_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", environ),
            sasl_mechanism=env_str("OKR_KAFKA_SASL_MECHANISM", "PLAIN", environ),
            sasl_username=env_str("OKR_KAFKA_SASL_USERNAME", "", environ),
            sasl_password=env_str("OKR_KAFKA_SASL_PASSWORD", "", environ),
        )

    def client_security(self) -> dict[str, object]:
        """kafka-python settings that sign this process in (none for PLAINTEXT)."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        return {"security_protocol": self.security_protocol,
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password}


@dataclass(frozen=True)
class RelaySettings:
    batch_size: int
    fallback_poll_seconds: float
    sqlite_poll_seconds: float
    retention_hours: float
    topic_check_seconds: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RelaySettings:
        return cls(
            batch_size=env_int("OKR_RELAY_BATCH_SIZE", 2000, environ),
            fallback_poll_seconds=env_float("OKR_RELAY_POLL_SECONDS", 1.0, environ),
            sqlite_poll_seconds=env_float("OKR_RELAY_SQLITE_POLL_SECONDS", 0.02, environ),
            retention_hours=env_float("OKR_OUTBOX_RETENTION_HOURS", 168.0, environ),
            topic_check_seconds=env_float("OKR_RELAY_TOPIC_CHECK_SECONDS", 30.0, environ),
        )


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Folder for the embedded SQLite files; created on first use."""
    path = Path(env_str("OKR_DATA_DIR", ".okr-data", environ)).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url(service: str, environ: Mapping[str, str] | None = None) -> str:
    """``OKR_<SERVICE>_DATABASE_URL``, else a SQLite file in the data folder."""
    variable = f"OKR_{service.upper()}_DATABASE_URL"
    explicit = env_str(variable, "", environ)
    if explicit:
        return explicit
    return f"sqlite:///{data_dir(environ) / (service + '.db')}"


@dataclass(frozen=True)
class AuthSettings:
    """How the metrics and notification services check bearer tokens with the goals service."""

    goals_url: str
    cache_seconds: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthSettings:
        return cls(
            goals_url=env_str(
                "OKR_GOALS_URL", f"http://127.0.0.1:{env_int('OKR_GOALS_PORT', 8081, environ)}",
                environ),
            cache_seconds=env_float("OKR_AUTH_CACHE_SECONDS", 30.0, environ),
        )
