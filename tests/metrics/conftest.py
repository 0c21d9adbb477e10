"""Fixtures of the metrics tests: a migrated metrics database on each engine, its container."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from services.metrics.adapters import tables as metrics_tables
from services.metrics.bootstrap import Metrics, bootstrap
from services.metrics.config import MetricsConfig
from services.metrics.domain.status import StatusThresholds
from services.metrics.entrypoints.cli import MIGRATIONS as METRICS_MIGRATIONS
from shared.config import AuthSettings, KafkaSettings, RelaySettings
from tests.metrics.goal_events import GoalsTopic
from tests.support.databases import PostgresDatabases, require_postgres
from tests.support.processes import Child, children

__all__ = ["children"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def metrics_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated metrics database of its own, on each engine."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_databases").new("metrics", METRICS_MIGRATIONS,
                                                              tmp_path)
        return
    require_postgres()
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = databases.shared("metrics", METRICS_MIGRATIONS)
    databases.reset(url, [table.name for table in metrics_tables.metadata.sorted_tables])
    yield url


def metrics_config_for(database_url: str, kafka: KafkaSettings, relay: RelaySettings,
                       goals_url: str = "http://127.0.0.1:9", max_series: int = 200_000,
                       ) -> MetricsConfig:
    return MetricsConfig(
        database_url=database_url, kafka=kafka, relay=relay,
        auth=AuthSettings(goals_url=goals_url, cache_seconds=30.0),
        thresholds=StatusThresholds(), host="127.0.0.1", port=0, worker_metrics_port=0,
        event_source="/okr/metrics", consumer_group="okr-metrics", batch_size=500,
        status_tick_seconds=0.0, max_series=max_series, log_level="INFO", log_json=False)


@pytest.fixture
def metrics_config(metrics_database_url: str, kafka_settings: KafkaSettings,
                   relay_settings: RelaySettings) -> MetricsConfig:
    return metrics_config_for(metrics_database_url, kafka_settings, relay_settings)


@pytest.fixture
def metrics(metrics_config: MetricsConfig) -> Iterator[Metrics]:
    container = bootstrap(metrics_config)
    yield container
    container.engine.dispose()


@pytest.fixture
def goals_topic(kafka_settings: KafkaSettings) -> Iterator[GoalsTopic]:
    topic = GoalsTopic(kafka_settings)
    yield topic
    topic.close()


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def processed_count(container: Metrics) -> int:
    table = metrics_tables.plumbing.processed_events
    with container.engine.connect() as connection:
        return len(connection.execute(select(table.c.event_id)).all())


def objective_row(container: Metrics, objective_id: str):  # type: ignore[no-untyped-def]
    with container.engine.connect() as connection:
        return connection.execute(select(metrics_tables.objectives).where(
            metrics_tables.objectives.c.id == objective_id)).first()


# -- child processes (gunicorn, Prometheus, the consumer) ---------------------------------------

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def processes(children: Callable[[list[str], dict[str, str], str], Child],
              ) -> Callable[[list[str], dict[str, str], str], Child]:
    """Child processes of a test (gunicorn, Prometheus, the consumer); stopped at the end."""
    return children


def okr_metrics() -> str:
    return str(Path(sys.executable).with_name("okr-metrics"))


def metrics_environment(config: MetricsConfig) -> dict[str, str]:
    kafka = config.kafka
    return {
        "OKR_METRICS_DATABASE_URL": config.database_url,
        "OKR_GOALS_URL": config.auth.goals_url,
        "OKR_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "OKR_KAFKA_TOPIC_PARTITIONS": str(kafka.topic_partitions),
        "OKR_KAFKA_MAX_POLL_INTERVAL_MS": str(kafka.max_poll_interval_ms),
        "OKR_KAFKA_SESSION_TIMEOUT_MS": str(kafka.session_timeout_ms),
        "OKR_KAFKA_REQUEST_TIMEOUT_MS": str(kafka.request_timeout_ms),
        "OKR_LOG_JSON": "false",
    }


def wait_http(url: str, timeout: float, process: Child | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise AssertionError(f"{url}: the server died\n{process.output()}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout:.0f}s")
