"""``okr-notifications``: migrate, serve the API, run the worker."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from services.notifications.bootstrap import bootstrap
from services.notifications.config import SERVICE, NotificationsConfig
from shared.observability.logging import configure_logging
from shared.persistence.migrations import upgrade_to_head
from shared.runtime.housekeeping import housekeeping_loop
from shared.runtime.http_server import exec_gunicorn
from shared.runtime.workers import Loop, run_until_signalled

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


@click.group()
def main() -> None:
    """The notification service."""


@main.command()
def migrate() -> None:
    """Apply database migrations."""
    config = NotificationsConfig.from_env()
    configure_logging(SERVICE, config.log_level, config.log_json)
    upgrade_to_head(MIGRATIONS, config.database_url)
    click.echo("notifications database at head", err=True)


@main.command()
@click.option("--workers", default=lambda: os.environ.get("OKR_NOTIFICATIONS_HTTP_WORKERS", "2"),
              show_default="OKR_NOTIFICATIONS_HTTP_WORKERS or 2",
              help="gunicorn worker processes")
def serve(workers: str) -> None:
    """Migrate, then serve the HTTP API with gunicorn."""
    config = NotificationsConfig.from_env()
    upgrade_to_head(MIGRATIONS, config.database_url)
    exec_gunicorn("notifications", "services.notifications.entrypoints.wsgi:app", config.host,
                  config.port, workers)


@main.command()
def worker() -> None:
    """Consume goal and roll-up events, deliver notifications, relay the outbox and purge
    what is past its retention, until SIGTERM."""
    config = NotificationsConfig.from_env()
    configure_logging(SERVICE, config.log_level, config.log_json)
    upgrade_to_head(MIGRATIONS, config.database_url)
    notifications = bootstrap(config)
    loops: dict[str, Loop] = {"consumer": notifications.consumer().run,
             "delivery": notifications.delivery_loop().run,
             "relay": notifications.relay().run,
             "housekeeping": housekeeping_loop(SERVICE, notifications.purges())}
    sys.exit(run_until_signalled(SERVICE, loops, config.worker_metrics_port, config.host))
