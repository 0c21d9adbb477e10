"""Fixtures and helpers for the fault-injection tests: a consumer database, child processes."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from services.goals.adapters import tables
from services.goals.bootstrap import Goals
from shared.cloudevents import new_event
from shared.config import KafkaSettings
from shared.contract import EventType
from shared.persistence.engine import create_database_engine, writing
from tests.support.ledger_consumer import create_schema, ledger, ledger_counts
from tests.support.processes import Child, children

__all__ = ["Child", "children"]

ROOT = Path(__file__).resolve().parents[3]


# -- waiting, bounded ------------------------------------------------------------------------

def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# -- the goals outbox --------------------------------------------------------------------------

def outbox_counts(goals: Goals) -> tuple[int, int]:
    """(published, pending) rows in the goals outbox."""
    outbox = tables.plumbing.outbox
    with goals.engine.connect() as connection:
        published = connection.execute(select(func.count()).select_from(outbox)
                                       .where(outbox.c.published_at.is_not(None))).scalar_one()
        pending = connection.execute(select(func.count()).select_from(outbox)
                                     .where(outbox.c.published_at.is_(None))).scalar_one()
    return int(published), int(pending)


def outbox_event_ids(goals: Goals, event_type: EventType) -> set[str]:
    outbox = tables.plumbing.outbox
    with goals.engine.connect() as connection:
        return set(connection.execute(select(outbox.c.event_id)
                                      .where(outbox.c.event_type == event_type.value)).scalars())


def assert_each_cycle_applied_once(goals: Goals, ledger_engine: Engine, keys: list[str],
                                   count: int) -> set[str]:
    """Every cycle the goals service accepted reached the ledger consumer exactly once;
    the ids of their events."""
    rows, distinct = ledger_counts(ledger_engine, EventType.CYCLE_CREATED.value)
    assert (rows, distinct) == (count, count)
    expected_ids = outbox_event_ids(goals, EventType.CYCLE_CREATED)
    assert len(expected_ids) == count
    with ledger_engine.connect() as connection:
        applied = connection.execute(
            select(ledger.c.event_id, ledger.c.subject)
            .where(ledger.c.event_type == EventType.CYCLE_CREATED.value)).all()
    assert {row.event_id for row in applied} == expected_ids
    assert {row.subject for row in applied} == {f"cycle/{key}" for key in keys}
    return expected_ids


def fill_outbox(goals: Goals, count: int, prefix: str = "b") -> set[str]:
    """Queue ``count`` cycle events in the goals outbox in one transaction; return their ids.

    The events go through the real :class:`~shared.persistence.outbox.Outbox`, exactly as a
    unit of work writes them; only the cycle rows themselves are skipped, to build a large
    backlog quickly.
    """
    ids = set()
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    with writing(goals.engine).begin() as connection:
        for i in range(count):
            key = f"{prefix}-{i:04d}"
            event = new_event(EventType.CYCLE_CREATED, goals.config.event_source, f"cycle/{key}",
                              {"key": key, "name": key, "starts_on": date(2026, 10, 1).isoformat(),
                               "ends_on": date(2026, 12, 31).isoformat(), "version": 1,
                               "created_at": now, "updated_at": now})
            goals.outbox.append(connection, event, key)
            ids.add(event.id)
    return ids


# -- the consumer's own database ---------------------------------------------------------------

@pytest.fixture
def ledger_database_url(goals_database_url: str, tmp_path: Path,
                        request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database for the ledger consumer, on the same engine as the goals database."""
    if goals_database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    databases = request.getfixturevalue("postgres_databases")
    url = databases.empty("ledger")
    yield url
    databases.drop(url)


@pytest.fixture
def ledger_engine(ledger_database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(ledger_database_url)
    create_schema(engine)
    yield engine
    engine.dispose()


# -- child processes -----------------------------------------------------------------------------

def kafka_environment(settings: KafkaSettings) -> dict[str, str]:
    return {
        "OKR_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "OKR_KAFKA_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "OKR_KAFKA_REPLICATION_FACTOR": str(settings.replication_factor),
        "OKR_KAFKA_MAX_POLL_INTERVAL_MS": str(settings.max_poll_interval_ms),
        "OKR_KAFKA_SESSION_TIMEOUT_MS": str(settings.session_timeout_ms),
        "OKR_KAFKA_REQUEST_TIMEOUT_MS": str(settings.request_timeout_ms),
    }


def okr_goals() -> str:
    return str(Path(sys.executable).with_name("okr-goals"))


def ledger_consumer_command(database_url: str, settings: KafkaSettings, group: str) -> list[str]:
    return [sys.executable, "-m", "tests.support.ledger_consumer", "--database-url", database_url,
            "--bootstrap", settings.bootstrap_servers, "--group", group]


__all__ = ["Child", "fill_outbox", "kafka_environment", "ledger_consumer_command", "okr_goals",
           "outbox_counts", "outbox_event_ids", "wait_until"]
