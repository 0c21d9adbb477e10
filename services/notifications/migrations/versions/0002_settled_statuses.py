"""settled statuses and who was told of an alarm

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 05:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('status_watch',
    sa.Column('objective_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('notice', sa.Text(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('announced', sa.String(length=20), nullable=True),
    sa.Column('announced_event_id', sa.String(length=100), nullable=True),
    sa.Column('announced_notice', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('objective_id', name=op.f('pk_status_watch'))
    )
    with op.batch_alter_table('status_watch', schema=None) as batch_op:
        batch_op.create_index('ix_status_watch_due', ['due_at'], unique=False)

    op.create_table('alarms_told',
    sa.Column('subscription_id', sa.String(length=36), nullable=False),
    sa.Column('objective_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('told_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('subscription_id', 'objective_id', name=op.f('pk_alarms_told'))
    )
    with op.batch_alter_table('alarms_told', schema=None) as batch_op:
        batch_op.create_index('ix_alarms_told_objective_id', ['objective_id'], unique=False)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_event_id', ['event_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_event_id')
    with op.batch_alter_table('alarms_told', schema=None) as batch_op:
        batch_op.drop_index('ix_alarms_told_objective_id')
    op.drop_table('alarms_told')
    with op.batch_alter_table('status_watch', schema=None) as batch_op:
        batch_op.drop_index('ix_status_watch_due')
    op.drop_table('status_watch')
