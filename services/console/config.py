"""Console settings, from the environment (see docs/configuration.md)."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.config import data_dir, env_bool, env_float, env_int, env_str

SERVICE = "console"
SECRET_KEY_FILE = "console-secret-key"


@dataclass(frozen=True)
class ConsoleConfig:
    goals_url: str
    metrics_url: str
    notifications_url: str
    """The notifications API ("My notifications": the department's subscriptions)."""
    secret_key: str
    """Signs the session cookie (and so the CSRF token in it)."""
    host: str
    port: int
    session_hours: float
    """A session ends this long after sign-in, whatever happens in between."""
    secure_cookies: bool
    """Mark the session cookie ``Secure`` even on plain HTTP (behind a TLS proxy)."""
    api_timeout_seconds: float
    log_level: str
    log_json: bool

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
            secret_key=env_str("OKR_CONSOLE_SECRET_KEY", "", environ) or _kept_secret(environ),
            host=env_str("OKR_HOST", "127.0.0.1", environ),
            port=env_int("OKR_CONSOLE_PORT", 8080, environ),
            session_hours=env_float("OKR_CONSOLE_SESSION_HOURS", 8.0, environ),
            secure_cookies=env_bool("OKR_CONSOLE_SECURE_COOKIES", False, environ),
            api_timeout_seconds=env_float("OKR_CONSOLE_API_TIMEOUT_SECONDS", 10.0, environ),
            log_level=env_str("OKR_LOG_LEVEL", "INFO", environ),
            log_json=env_bool("OKR_LOG_JSON", True, environ),
        )


def _kept_secret(environ: Mapping[str, str] | None) -> str:
    """A key generated once into the data folder (``make run``), shared by every worker:
    the first process to create the file writes it, the others read it."""
    path: Path = data_dir(environ) / SECRET_KEY_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
    for _ in range(50):  # another worker may be between creating and writing it
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty: delete it or set OKR_CONSOLE_SECRET_KEY")
