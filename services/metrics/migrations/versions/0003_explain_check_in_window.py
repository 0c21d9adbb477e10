"""explain: each key result's window of recent check-ins and its pace (the forecast)

Revision ID: 0003_explain
Revises: 0002_owner_cycle_counters
Create Date: 2026-11-29 05:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_explain'
down_revision = '0002_owner_cycle_counters'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('key_results') as batch:
        batch.add_column(sa.Column('check_ins', sa.Text(), nullable=True))
        batch.add_column(sa.Column('pace', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('key_results') as batch:
        batch.drop_column('pace')
        batch.drop_column('check_ins')
