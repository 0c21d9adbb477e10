"""On PostgreSQL the goals service wakes the relay after each commit, off the transaction.

The NOTIFY no longer rides inside the writing transaction (where PostgreSQL serialises the
commits of every notifying transaction); a thread sends it after the commit. What must
still hold: the relay is woken after every commit, and only once the rows are visible.
"""

from __future__ import annotations

import threading
from datetime import date

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from services.goals.adapters import tables
from services.goals.bootstrap import Goals
from services.goals.service_layer import reference_data
from shared.persistence.outbox import NOTIFY_CHANNEL

pytestmark = [pytest.mark.postgres,
              pytest.mark.parametrize("goals_database_url", ["postgresql"], indirect=True)]


def _listener(goals: Goals) -> psycopg.Connection:
    url = make_url(goals.engine.url).set(drivername="postgresql")
    connection = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
    return connection


def _create_cycle(goals: Goals, key: str) -> None:
    reference_data.create_cycle(goals.unit_of_work(), reference_data.SYSTEM, key,
                                date(2026, 10, 1), date(2026, 12, 31))


def _outbox_rows(goals: Goals) -> int:
    with goals.engine.connect() as connection:
        return int(connection.execute(select(func.count())
                                      .select_from(tables.plumbing.outbox)).scalar_one())


def test_a_commit_wakes_the_relay_once_its_event_is_visible(goals: Goals) -> None:
    listener = _listener(goals)
    try:
        _create_cycle(goals, "c-wake")
        woken = list(listener.notifies(timeout=5.0, stop_after=1))
        assert len(woken) == 1, "no NOTIFY within 5 s of the commit"
        assert _outbox_rows(goals) == 1  # visible to the relay when it wakes
    finally:
        listener.close()


def test_the_last_of_many_concurrent_commits_is_followed_by_a_notify(goals: Goals) -> None:
    listener = _listener(goals)
    visible_when_woken: list[int] = []  # outbox rows the relay would find at each wake-up

    def listen() -> None:
        for _ in listener.notifies(timeout=10.0):
            visible_when_woken.append(_outbox_rows(goals))
            if visible_when_woken[-1] == 20:
                return

    try:
        thread = threading.Thread(target=listen)
        thread.start()
        writers = [threading.Thread(target=_create_cycle, args=(goals, f"c-{n:02d}"))
                   for n in range(20)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(30)
        thread.join(15)
        assert _outbox_rows(goals) == 20
        assert visible_when_woken, "no NOTIFY at all"
        assert visible_when_woken[-1] == 20, "the last commits woke no one"
        assert len(visible_when_woken) <= 20  # never more than one NOTIFY per commit
    finally:
        listener.close()
