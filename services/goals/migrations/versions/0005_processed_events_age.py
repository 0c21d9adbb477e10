"""processed-event ids: an index on processed_at, for the purge of ids past their retention

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 12:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_processed_events_processed_at', 'processed_events', ['processed_at'])


def downgrade() -> None:
    op.drop_index('ix_processed_events_processed_at', table_name='processed_events')
