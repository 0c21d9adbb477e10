"""Console settings, from the environment (see docs/configuration.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.config import ConfigurationError, env_bool, env_float, env_int, env_str

SERVICE = "console"


@dataclass(frozen=True)
class ConsoleConfig:
    goals_url: str
    metrics_url: str
    notifications_url: str
    """The notifications API ("My notifications": the department's subscriptions)."""
    host: str
    port: int
    session_hours: float
    """A session ends this long after sign-in, whatever happens in between."""
    max_sessions: int
    """Signed-in sessions kept at most (and as many anonymous ones); beyond, the oldest go."""
    max_sessions_per_token: int
    """Signed-in sessions of one token at most; signing in once more ends its oldest."""
    http_threads: int
    """Threads of the console's one gunicorn process (sessions live in its memory)."""
    secure_cookies: bool
    """Mark the session cookie ``Secure`` even on plain HTTP (behind a TLS proxy)."""
    api_timeout_seconds: float
    api_cool_off_seconds: float
    """An API that did not answer within the timeout is not asked again for this long: its
    pages answer at once without it (a hung service must not hold every thread)."""
    stale_after_days: float
    """A key result without a check-in for longer is listed as stale on its department's page."""
    log_level: str
    log_json: bool

    def __post_init__(self) -> None:
        for name, value in (("OKR_CONSOLE_MAX_SESSIONS", self.max_sessions),
                            ("OKR_CONSOLE_MAX_SESSIONS_PER_TOKEN", self.max_sessions_per_token),
                            ("OKR_CONSOLE_HTTP_THREADS", self.http_threads)):
            if value < 1:
                raise ConfigurationError(f"{name} must be at least 1, got {value}")
        if not self.api_cool_off_seconds >= 0:
            raise ConfigurationError("OKR_CONSOLE_API_COOL_OFF_SECONDS must be 0 or more")
        if not self.session_hours > 0:
            raise ConfigurationError("OKR_CONSOLE_SESSION_HOURS must be more than 0")
        if not 0.0 < self.stale_after_days < 100_000.0:
            raise ConfigurationError("OKR_CONSOLE_STALE_AFTER_DAYS must be a number of days "
                                     f"above 0 and below 100000, got {self.stale_after_days!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConsoleConfig:
        return cls(
            goals_url=env_str("OKR_GOALS_URL",
                              f"http://127.0.0.1:{env_int('OKR_GOALS_PORT', 8081, environ)}",
                              environ).rstrip("/"),
            metrics_url=env_str("OKR_METRICS_URL",
                                f"http://127.0.0.1:{env_int('OKR_METRICS_PORT', 8082, environ)}",
                                environ).rstrip("/"),
            notifications_url=env_str(
                "OKR_NOTIFICATIONS_URL",
                f"http://127.0.0.1:{env_int('OKR_NOTIFICATIONS_PORT', 8083, environ)}",
                environ).rstrip("/"),
            host=env_str("OKR_HOST", "127.0.0.1", environ),
            port=env_int("OKR_CONSOLE_PORT", 8080, environ),
            session_hours=env_float("OKR_CONSOLE_SESSION_HOURS", 8.0, environ),
            max_sessions=env_int("OKR_CONSOLE_MAX_SESSIONS", 10_000, environ),
            max_sessions_per_token=env_int("OKR_CONSOLE_MAX_SESSIONS_PER_TOKEN", 5, environ),
            http_threads=env_int("OKR_CONSOLE_HTTP_THREADS", 8, environ),
            secure_cookies=env_bool("OKR_CONSOLE_SECURE_COOKIES", False, environ),
            api_timeout_seconds=env_float("OKR_CONSOLE_API_TIMEOUT_SECONDS", 10.0, environ),
            api_cool_off_seconds=env_float("OKR_CONSOLE_API_COOL_OFF_SECONDS", 10.0, environ),
            stale_after_days=env_float("OKR_CONSOLE_STALE_AFTER_DAYS", 14.0, environ),
            log_level=env_str("OKR_LOG_LEVEL", "INFO", environ),
            log_json=env_bool("OKR_LOG_JSON", True, environ),
        )

