"""kept outlook: what each objective's departments' parts, forecast and why are told from

Rows written before this revision hold NULL until their objective changes again or
``okr-metrics rebuild`` replays the goal events.

Revision ID: 0004_kept_outlook
Revises: 0003_explain
Create Date: 2026-11-29 11:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_kept_outlook'
down_revision = '0003_explain'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('objectives') as batch:
        batch.add_column(sa.Column('outlook', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('objectives') as batch:
        batch.drop_column('outlook')
