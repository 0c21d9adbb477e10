"""Metrics computed from the database when Prometheus scrapes, so any process can serve them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.observability.metrics import HANDLED_ERRORS
from shared.persistence.outbox import Outbox

log = logging.getLogger(__name__)


class OutboxBacklogCollector(Collector):
    """``okr_outbox_pending_events``: outbox rows committed but not yet acknowledged by Kafka."""

    def __init__(self, service: str, engine_of: Callable[[], Engine], outbox: Outbox) -> None:
        self.service = service
        self.engine_of = engine_of
        self.outbox = outbox

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "okr_outbox_pending_events",
            "Outbox events committed but not yet acknowledged by the broker.",
            labels=["service"],
        )
        try:
            with self.engine_of().connect() as connection:
                family.add_metric([self.service], self.outbox.pending_count(connection))
        except SQLAlchemyError:
            HANDLED_ERRORS.labels(self.service, "outbox_backlog_query").inc()
            log.warning("could not count the outbox backlog", exc_info=True)
        yield family
