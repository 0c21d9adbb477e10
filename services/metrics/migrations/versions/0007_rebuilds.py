"""rebuilds: when each rebuild of the read model started and finished, so a consumer does
not start on the partial read model a rebuild stopped midway left behind

Revision ID: 0007_rebuilds
Revises: 0006_read_model_writes
Create Date: 2026-11-29 20:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_rebuilds'
down_revision = '0006_read_model_writes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rebuilds',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rebuilds')))


def downgrade() -> None:
    op.drop_table('rebuilds')
