"""``okr-goals``: migrate, serve the API, run the relay, mint and revoke tokens."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from services.goals.bootstrap import bootstrap
from services.goals.config import SERVICE, GoalsConfig
from services.goals.domain.access import Principal, Role
from services.goals.domain.errors import DomainError
from services.goals.service_layer import reference_data, tokens
from shared.observability.logging import configure_logging
from shared.persistence.migrations import upgrade_to_head
from shared.runtime.housekeeping import housekeeping_loop
from shared.runtime.http_server import exec_gunicorn
from shared.runtime.workers import run_until_signalled

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
CLI_ADMIN = Principal(name="okr-goals command line", role=Role.ADMIN)


@click.group()
def main() -> None:
    """The goals service."""


@main.command()
def migrate() -> None:
    """Apply database migrations and create the default departments."""
    config = GoalsConfig.from_env()
    configure_logging(SERVICE, config.log_level, config.log_json)
    upgrade_to_head(MIGRATIONS, config.database_url)
    created = reference_data.seed_default_departments(bootstrap(config).unit_of_work())
    click.echo(f"goals database at head; departments created: {', '.join(created) or 'none'}",
               err=True)


@main.command()
@click.option("--workers", default=lambda: os.environ.get("OKR_GOALS_HTTP_WORKERS", "2"),
              show_default="OKR_GOALS_HTTP_WORKERS or 2", help="gunicorn worker processes")
def serve(workers: str) -> None:
    """Migrate, then serve the HTTP API with gunicorn."""
    config = GoalsConfig.from_env()
    upgrade_to_head(MIGRATIONS, config.database_url)
    reference_data.seed_default_departments(bootstrap(config).unit_of_work())
    exec_gunicorn("goals", "services.goals.entrypoints.wsgi:app", config.host, config.port,
                  workers)


@main.command()
def relay() -> None:
    """Run the outbox relay (and the purges of what is past its retention) until SIGTERM."""
    config = GoalsConfig.from_env()
    configure_logging(SERVICE, config.log_level, config.log_json)
    goals = bootstrap(config)
    sys.exit(run_until_signalled(
        SERVICE, {"relay": goals.relay().run,
                  "housekeeping": housekeeping_loop(SERVICE, goals.purges())},
        config.worker_metrics_port, config.host))


@main.command("mint-token")
@click.option("--name", required=True, help="who or what will use the token")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--department", default=None, help="the department of a head token")
def mint_token(name: str, role: str, department: str | None) -> None:
    """Mint a token and print its secret (shown once)."""
    goals = bootstrap()
    try:
        token, secret = tokens.mint_token(goals.unit_of_work(), CLI_ADMIN, name, Role(role),
                                          department)
    except DomainError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"token id {token.id} ({token.role.value}"
               f"{' of ' + token.department if token.department else ''})", err=True)
    click.echo(secret)


@main.command("revoke-token")
@click.argument("token_id")
def revoke_token(token_id: str) -> None:
    """Revoke a token by id."""
    try:
        tokens.revoke_token(bootstrap().unit_of_work(), CLI_ADMIN, token_id)
    except DomainError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"revoked {token_id}", err=True)
