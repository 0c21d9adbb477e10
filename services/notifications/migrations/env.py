"""Alembic environment for the notifications database."""

from services.notifications.adapters.tables import metadata
from shared.persistence.migrations import run_alembic_environment

run_alembic_environment(metadata)
