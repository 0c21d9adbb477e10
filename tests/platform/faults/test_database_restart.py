"""PostgreSQL restarts while the relay publishes and a consumer applies: nothing lost or doubled.

The server is the real one of this machine, restarted with ``pg_ctlcluster`` (or the
command in ``OKR_TEST_POSTGRES_RESTART``): every connection of the relay (including its
LISTEN connection), of the consumer and of the writers is cut at once. Writes during the
outage fail and are retried by the test, as a client would; every write that was accepted
must then reach the consumer's ledger exactly once.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from services.goals.bootstrap import Goals
from services.goals.domain.access import Principal, Role
from services.goals.domain.errors import Conflict
from services.goals.service_layer import reference_data
from shared.config import KafkaSettings
from shared.contract import EventType
from tests.platform.faults.conftest import (
    assert_each_cycle_applied_once,
    outbox_counts,
    wait_until,
)
from tests.support.ledger_consumer import build_runner, ledger_counts

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.restarts_postgres,
              pytest.mark.timeout(240)]

ADMIN = Principal(name="fault test admin", role=Role.ADMIN)


def _restart_command() -> list[str]:
    configured = os.environ.get("OKR_TEST_POSTGRES_RESTART", "").strip()
    if configured:
        return shlex.split(configured)
    clusters = sorted(Path("/etc/postgresql").glob("*/main")) \
        if Path("/etc/postgresql").is_dir() else []
    if shutil.which("pg_ctlcluster") and len(clusters) == 1:
        version = clusters[0].parent.name
        return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]
    message = ("no way to restart PostgreSQL here: set OKR_TEST_POSTGRES_RESTART to a "
               "command that restarts the server of OKR_TEST_POSTGRES_URL")
    if os.environ.get("OKR_REQUIRE_POSTGRES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _create_cycle_until_accepted(goals: Goals, key: str, deadline: float) -> int:
    """Retry like a client (a write cut by the restart may or may not have committed).

    Returns how many attempts failed.
    """
    failures = 0
    while True:
        try:
            reference_data.create_cycle(goals.unit_of_work(), ADMIN, key,
                                        date(2026, 10, 1), date(2026, 12, 31))
            return failures
        except Conflict:
            return failures  # the attempt the restart interrupted had committed after all
        except DBAPIError:
            failures += 1
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("goals_database_url", ["postgresql"], indirect=True)
@pytest.mark.handled_errors("relay_database_unavailable", "relay_lease_lost", "relay_lease",
                            "relay_wakeup",  # a NOTIFY after a commit, while the server is down
                            "consumer_transient",
                            "consumer_database_error", "consumer_commit_failed",
                            "outbox_backlog_query")
def test_a_postgres_restart_loses_and_doubles_nothing(
    goals: Goals, kafka_settings: KafkaSettings, ledger_engine: Engine, run_in_background,
) -> None:
    restart = _restart_command()
    run_in_background(goals.relay().run)
    run_in_background(build_runner(ledger_engine, kafka_settings, "ledger-pg-restart",
                                   max_records=50).run)
    deadline = time.monotonic() + 120
    keys: list[str] = []

    def write(count: int) -> int:
        failures = 0
        for _ in range(count):
            keys.append(f"r-{len(keys):04d}")
            failures += _create_cycle_until_accepted(goals, keys[-1], deadline)
        return failures

    write(200)
    wait_until(lambda: ledger_counts(ledger_engine, EventType.CYCLE_CREATED.value)[0] >= 50, 60,
               "the consumer to apply the first events")

    restarted = threading.Event()

    def _restart() -> None:
        subprocess.run(restart, check=True, capture_output=True, timeout=60)
        restarted.set()

    restarter = threading.Thread(target=_restart, daemon=True)
    restarter.start()
    failed_writes = 0
    while not restarted.is_set() and time.monotonic() < deadline:
        failed_writes += write(10)  # writing while the server goes down and comes back
    restarter.join(timeout=60)
    assert restarted.is_set(), "PostgreSQL did not restart"
    assert failed_writes > 0, "the restart never interrupted a write: the test proved nothing"
    write(200)  # and after it is back
    total = len(keys)

    wait_until(lambda: outbox_counts(goals)[1] == 0, 90, "the relay to drain the outbox")
    wait_until(lambda: ledger_counts(ledger_engine, EventType.CYCLE_CREATED.value)[0] >= total,
               90, f"the ledger to hold {total} cycle events")
    time.sleep(2.0)  # a duplicate application, if any, would land now

    assert_each_cycle_applied_once(goals, ledger_engine, keys, total)
