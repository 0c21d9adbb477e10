"""the serial of each write of objectives and key results, for /metrics to render again
only the rows written since its last scrape

Rows written before this revision hold NULL (a scrape renders them from the start, as it
renders every row the first time).

Revision ID: 0006_read_model_writes
Revises: 0005_processed_events_age
Create Date: 2026-11-29 14:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_read_model_writes'
down_revision = '0005_processed_events_age'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'read_model_writes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('serial', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_read_model_writes')))
    for table in ('objectives', 'key_results'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('written', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for table in ('key_results', 'objectives'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('written')
    op.drop_table('read_model_writes')
