"""``okr-console``: serve the web console for department heads and the CEO."""

from __future__ import annotations

import click

from services.console.config import ConsoleConfig
from shared.runtime.http_server import exec_gunicorn


@click.group()
def main() -> None:
    """The web console (a client of the goals and metrics APIs)."""


@main.command()
def serve() -> None:
    """Serve the console with gunicorn: one process (its sessions live in its memory) of
    OKR_CONSOLE_HTTP_THREADS threads."""
    config = ConsoleConfig.from_env()  # fails here, before gunicorn, on a bad setting
    exec_gunicorn("console", "services.console.entrypoints.wsgi:app", config.host, config.port,
                  "1", threads=config.http_threads)
