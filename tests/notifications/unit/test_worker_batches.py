"""How many events one transaction of the notification worker applies: one poll's
(``OKR_NOTIFICATIONS_CONSUMER_MAX_RECORDS``), or, when its consumer lags, what several
polls give up to ``OKR_NOTIFICATIONS_CONSUMER_BATCH_RECORDS``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from services.notifications.bootstrap import bootstrap
from services.notifications.config import NotificationsConfig


def test_a_lagging_worker_gathers_2000_events_a_transaction_unless_configured() -> None:
    assert NotificationsConfig.from_env({}).consumer_batch_records == 2000
    assert NotificationsConfig.from_env(
        {"OKR_NOTIFICATIONS_CONSUMER_BATCH_RECORDS": "800"}).consumer_batch_records == 800


def test_the_workers_consumer_gathers_what_the_configuration_says(tmp_path: Path) -> None:
    config = replace(NotificationsConfig.from_env({}), database_url=f"sqlite:///{tmp_path}/n.db",
                     consumer_max_records=300, consumer_batch_records=1200)
    container = bootstrap(config)
    try:
        runner = container.consumer()
        assert (runner.max_records, runner.batch_records) == (300, 1200)
    finally:
        container.engine.dispose()
