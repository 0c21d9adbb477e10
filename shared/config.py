"""Settings read from the environment, and nowhere else.

Typed readers of one variable each (``env_str``, ``env_int``, ``env_float``, ``env_bool``)
and the settings every service shares (:class:`KafkaSettings`, :class:`RelaySettings`,
:class:`AuthSettings`, ``database_url``, the retention of processed-event ids); each
service's own ``config`` module builds its settings from them. Every variable read here is
listed, with its default, in docs/configuration.md.
"""

from __future__ import annotations

import math
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


#: the longest retention a variable may set: a hundred years (longer overflows the dates
#: the purges compute, and nothing needs it)
MAX_RETENTION_DAYS = 36_500.0


def env_retention(name: str, default: float, unit: str,
                  environ: Mapping[str, str] | None = None) -> float:
    """A retention in ``unit`` (``"hours"`` or ``"days"``): a finite number above 0 and at
    most a hundred years, written in ASCII; anything else refuses to start, naming it
    (0 or less would purge what was just written: processed-event ids the moment they are
    recorded, so every redelivery applied twice)."""
    raw = env_str(name, str(default), environ)
    limit = MAX_RETENTION_DAYS * (24 if unit == "hours" else 1)
    try:
        value = float(raw) if raw.isascii() and "_" not in raw else math.nan
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= limit):
        raise ConfigurationError(f"{name} must be a number of {unit} above 0 and at most "
                                 f"{limit:g} (a hundred years), got {raw!r}")
    return value


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
            retention_hours=env_retention("OKR_OUTBOX_RETENTION_HOURS", 168.0, "hours",
                                          environ),
            topic_check_seconds=env_float("OKR_RELAY_TOPIC_CHECK_SECONDS", 30.0, environ),
        )


#: How long a consumer remembers the id of an event it applied, by default: twice the
#: outbox's default retention (docs/operations.md, Storage and retention, says why).
PROCESSED_EVENTS_RETENTION_HOURS = 336.0


def processed_events_retention_hours(relay: RelaySettings,
                                     environ: Mapping[str, str] | None = None) -> float:
    """``OKR_PROCESSED_EVENTS_RETENTION_HOURS``; unset, 336 h or twice the outbox's
    retention if that is longer. Never shorter than the outbox's retention: the rows a relay
    keeps are sent again when a topic is lost, and a consumer must still recognise the ones
    it applied."""
    default = max(PROCESSED_EVENTS_RETENTION_HOURS, 2 * relay.retention_hours)
    hours = env_retention("OKR_PROCESSED_EVENTS_RETENTION_HOURS", default, "hours", environ)
    if not hours >= relay.retention_hours:
        raise ConfigurationError(
            f"OKR_PROCESSED_EVENTS_RETENTION_HOURS ({hours:g}) must be at least "
            f"OKR_OUTBOX_RETENTION_HOURS ({relay.retention_hours:g}): an event sent again "
            "from the outbox after its id was forgotten would be applied twice")
    return hours


def optional_days(name: str, environ: Mapping[str, str] | None = None) -> float | None:
    """A number of days above 0, or None when the variable is unset or empty."""
    if not env_str(name, "", environ):
        return None
    return env_retention(name, 0.0, "days", environ)


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
