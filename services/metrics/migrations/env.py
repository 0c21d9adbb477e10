"""Alembic environment for the metrics read model."""

from services.metrics.adapters.tables import metadata
from shared.persistence.migrations import run_alembic_environment

run_alembic_environment(metadata)
