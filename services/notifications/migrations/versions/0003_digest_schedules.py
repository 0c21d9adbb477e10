"""digest schedules: a subscription's digest at a local time of day on chosen weekdays

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest_schedule', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('digest_schedule')
