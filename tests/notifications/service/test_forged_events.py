"""The worker trusts each topic's events only from its producer, and dead-letters events
that break the contract at once (real Tansu broker, real databases)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from services.notifications.adapters import tables
from services.notifications.bootstrap import Notifications
from shared.cloudevents import CloudEvent
from shared.config import KafkaSettings
from shared.contract import Topic
from tests.notifications.builders import objective_created, status_changed
from tests.notifications.service.test_webhook_delivery import wait_until
from tests.support.kafka import read_topic

pytestmark = pytest.mark.timeout(90)


def objectives(container: Notifications) -> dict[str, tuple[str, str | None]]:
    """Objective id -> (title, roll-up status) in the worker's read model."""
    table = tables.objectives
    with container.engine.connect() as connection:
        return {row.id: (row.title, row.status) for row in connection.execute(
            select(table.c.id, table.c.title, table.c.status))}


# Decoding does not depend on the engine: PostgreSQL alone keeps the test quick.
@pytest.mark.parametrize("notifications_database_url",
                         [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.handled_errors("dead_lettered", "consumer_batch_fallback")
def test_forged_and_malformed_events_are_dead_lettered_and_real_ones_applied(
        notifications: Notifications, publish: Callable[[list[CloudEvent]], None],
        kafka_settings: KafkaSettings, run_in_background: Callable[..., Any]) -> None:
    target = str(uuid.uuid4())
    forged = dataclasses.replace(objective_created(target, title="Forged"), source="/okr/metrics")
    malformed = objective_created(target, title="Malformed")
    del malformed.data["departments"]
    forged_rollup = dataclasses.replace(status_changed(target, "off_track"), source="/okr/goals")
    real = objective_created(target, title="Real")
    publish([forged, malformed, real])
    publish([forged_rollup])
    run_in_background(notifications.consumer().run)

    wait_until(lambda: target in objectives(notifications), 30, "the real objective")
    goals_dead = read_topic(kafka_settings, Topic.GOALS.dead_letter, expect=2, timeout=20,
                            quiet_period=0.3)
    assert [record.value for record in goals_dead] == [forged.to_json(), malformed.to_json()]
    reasons = [dict(record.headers)["okr-dlq-reason"].decode() for record in goals_dead]
    assert "source '/okr/metrics' does not publish okr.goals.v1" in reasons[0], reasons[0]
    assert "data.departments is missing" in reasons[1], reasons[1]
    (rollup_dead,) = read_topic(kafka_settings, Topic.ROLLUPS.dead_letter, expect=1,
                                timeout=20, quiet_period=0.3)
    assert "does not publish okr.rollups.v1" in dict(rollup_dead.headers)[
        "okr-dlq-reason"].decode()
    assert objectives(notifications) == {target: ("Real", None)}  # no forged title or status
