"""Alembic environment for the goals database."""

from services.goals.adapters.tables import metadata
from shared.persistence.migrations import run_alembic_environment

run_alembic_environment(metadata)
