"""The revocation feed is polled several times a second by every other service's worker:
each poll must give its database connection back at once, not when the garbage collector
finds it (the pool runs dry first)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from flask import Flask

from services.goals.bootstrap import Goals


@pytest.fixture
def no_garbage_collector() -> Iterator[None]:
    gc.disable()  # only what is released at once counts as given back
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_garbage_collector")
def test_polling_the_revocation_feed_keeps_no_connection(goals_app: Flask, goals: Goals) -> None:
    client = goals_app.test_client()
    for _ in range(30):
        assert client.get("/v1/tokens/revocations").status_code == 200
    assert goals.engine.pool.checkedout() == 0


def test_a_unit_of_work_is_entered_once_at_a_time(goals: Goals) -> None:
    uow = goals.reading()
    with uow, pytest.raises(RuntimeError, match="entered once"), uow:
        pass
    with uow:  # entered again after it was left: fine
        pass
