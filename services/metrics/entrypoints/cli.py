"""``okr-metrics``: migrate, serve the API, consume goal events, rebuild the read model."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
import time
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from services.metrics.bootstrap import bootstrap
from services.metrics.config import SERVICE, MetricsConfig
from services.metrics.service_layer.rebuild import CHUNK_EVENTS, unfinished_rebuild
from services.metrics.service_layer.rebuild import rebuild as replay
from shared.messaging.leases import Lease, acquire_until, keep_lease, lease_for
from shared.observability.logging import configure_logging
from shared.persistence.migrations import upgrade_to_head
from shared.runtime.housekeeping import housekeeping_loop
from shared.runtime.http_server import exec_gunicorn
from shared.runtime.workers import Loop, run_until_signalled

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


@click.group()
def main() -> None:
    """The metrics service."""


@main.command()
def migrate() -> None:
    """Apply database migrations."""
    config = MetricsConfig.from_env()
    configure_logging(SERVICE, config.log_level, config.log_json)
    upgrade_to_head(MIGRATIONS, config.database_url)
    click.echo("metrics database at head", err=True)


@main.command()
@click.option("--workers", default=lambda: os.environ.get("OKR_METRICS_HTTP_WORKERS", "2"),
              show_default="OKR_METRICS_HTTP_WORKERS or 2", help="gunicorn worker processes")
def serve(workers: str) -> None:
    """Migrate, then serve the HTTP API (and /metrics) with gunicorn."""
    config = MetricsConfig.from_env()
    upgrade_to_head(MIGRATIONS, config.database_url)
    exec_gunicorn("metrics", "services.metrics.entrypoints.wsgi:app", config.host, config.port,
                  workers)


log = logging.getLogger(__name__)

CONSUMER_LEASE = "okr-metrics-consumer"
REBUILD_CHECK_SECONDS = 5.0
"""How often a consumer waiting on a partial read model looks for a finished rebuild."""


@main.command()
def consume() -> None:
    """Consume okr.goals.v1 into the read model, relay roll-up events, purge processed-event
    ids past their retention; until SIGTERM."""
    config = MetricsConfig.from_env()
    configure_logging(SERVICE, config.log_level, config.log_json)
    upgrade_to_head(MIGRATIONS, config.database_url)
    metrics = bootstrap(config)

    def when_leased(stop: threading.Event) -> dict[str, Loop] | None:
        # One consumer at a time: it holds the whole graph in memory, and a second one in
        # the group would get only some partitions. Others wait here as standbys (their
        # worker metrics served, so they pass health checks).
        lease = lease_for(metrics.engine, CONSUMER_LEASE, config.relay.sqlite_poll_seconds)
        while True:
            if not acquire_until(lease, "metrics consumer", stop, service=SERVICE,
                                 error_kind="consumer_lease"):
                return None
            try:
                started = unfinished_rebuild(metrics)
            except SQLAlchemyError as error:  # the database away: ask again
                log.warning("cannot tell whether a rebuild is unfinished: %s", error)
            else:
                if started is None:
                    break
                # A rebuild stopped midway (its lease went with its process): the read
                # model is partial. Wait, without the lease, for a rebuild run again.
                log.error("the read model is partial: a rebuild started at %s did not "
                          "finish; run `okr-metrics rebuild` again (waiting for it)",
                          started.isoformat())
            lease.release()
            if stop.wait(REBUILD_CHECK_SECONDS):
                return None
        projection = metrics.projection()
        projection.load()
        loops: dict[str, Loop] = {"consumer": metrics.consumer(projection).run,
                                  "relay": metrics.relay().run, "lease": keep_lease(lease),
                                  "housekeeping": housekeeping_loop(SERVICE, metrics.purges())}
        if config.status_tick_seconds > 0:
            loops["status"] = projection.run_status_ticks(config.status_tick_seconds)
        return loops

    sys.exit(run_until_signalled(SERVICE, when_leased, config.worker_metrics_port,
                                 config.host))


@main.command()
@click.option("--database-url", default=None,
              help="rebuild into this database instead of OKR_METRICS_DATABASE_URL")
@click.option("--chunk-events", type=click.IntRange(min=1), default=CHUNK_EVENTS,
              show_default=True,
              help="events applied and written in one transaction (memory: about 1.2 KB each)")
def rebuild(database_url: str | None, chunk_events: int) -> None:
    """Empty the read model and replay okr.goals.v1 from the beginning into it.

    Stop `okr-metrics consume` first (it refuses to run beside one); start it again
    afterwards. A rebuild that stopped midway is run again: it starts from nothing.
    """
    config = MetricsConfig.from_env()
    if database_url:
        config = dataclasses.replace(config, database_url=database_url)
    configure_logging(SERVICE, config.log_level, config.log_json)
    upgrade_to_head(MIGRATIONS, config.database_url)
    metrics = bootstrap(config)
    lease = lease_for(metrics.engine, CONSUMER_LEASE, config.relay.sqlite_poll_seconds)
    if not _acquire_soon(lease):
        raise click.ClickException("a metrics consumer is running on this database: stop "
                                   "`okr-metrics consume` first")
    try:
        counts = replay(metrics, lambda line: click.echo(line, err=True),
                        chunk_events=chunk_events)
    finally:
        lease.release()
    click.echo(f"rebuilt: {counts['applied']} applied, {counts['duplicate']} duplicates, "
               f"{counts['skipped']} skipped", err=True)


def _acquire_soon(lease: Lease, seconds: float = 2.0) -> bool:
    """Take ``lease`` within ``seconds``: a consumer waiting on a partial read model holds it
    for a moment every :data:`REBUILD_CHECK_SECONDS`; a running one keeps it."""
    deadline = time.monotonic() + seconds
    while not lease.try_acquire():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
