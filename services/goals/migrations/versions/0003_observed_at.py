"""check-ins and key results: when a value was true (observed_at)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 05:10:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every check-in before this revision was true when it was recorded.
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.add_column(sa.Column('observed_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE check_ins SET observed_at = created_at")
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.alter_column('observed_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)

    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.add_column(sa.Column('observed_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE key_results SET observed_at = last_checkin_at")


def downgrade() -> None:
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.drop_column('observed_at')
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.drop_column('observed_at')
