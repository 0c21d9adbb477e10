"""``okr-console``: serve the web console for department heads and the CEO."""

from __future__ import annotations

import os

import click

from services.console.config import ConsoleConfig
from shared.runtime.http_server import exec_gunicorn


@click.group()
def main() -> None:
    """The web console (a client of the goals and metrics APIs)."""


@main.command()
@click.option("--workers", default=lambda: os.environ.get("OKR_CONSOLE_HTTP_WORKERS", "2"),
              show_default="OKR_CONSOLE_HTTP_WORKERS or 2", help="gunicorn worker processes")
def serve(workers: str) -> None:
    """Serve the console with gunicorn."""
    config = ConsoleConfig.from_env()  # fails here, before gunicorn, on a bad setting
    exec_gunicorn("console", "services.console.entrypoints.wsgi:app", config.host, config.port,
                  workers)
