"""key results: last_checkin_at is the latest check-in's own time (observed_at), indexed

A backdated check-in that became current used to set ``last_checkin_at`` to the moment it
was recorded; ``observed_at`` has held the check-in's own time since 0003, so the rows are
put right from it. The index serves the stale key results (``?stale_before=``), which are
selected and ordered by ``last_checkin_at``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 11:45:00.000000
"""
from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE key_results SET last_checkin_at = observed_at "
               "WHERE observed_at IS NOT NULL")
    op.create_index('ix_key_results_last_checkin_at', 'key_results', ['last_checkin_at'])


def downgrade() -> None:
    op.drop_index('ix_key_results_last_checkin_at', table_name='key_results')
