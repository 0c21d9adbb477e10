"""Filling a metrics read model straight through the projection (no broker), for API tests."""

from __future__ import annotations

from services.metrics.bootstrap import Metrics
from services.metrics.service_layer.projection import RollupProjection
from shared.cloudevents import CloudEvent
from shared.persistence.engine import writing


def apply_events(metrics: Metrics, *events: CloudEvent,
                 projection: RollupProjection | None = None) -> RollupProjection:
    """Apply ``events`` in one transaction, as one consumed batch would be."""
    if projection is None:
        projection = metrics.projection()
        projection.load()
    with writing(metrics.engine).begin() as connection:
        projection.apply(list(events), connection)
    return projection
