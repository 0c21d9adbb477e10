"""objectives.owner; check-in counters per (department, cycle), one department a row

Revision ID: 0002_owner_cycle_counters
Revises: 0001
Create Date: 2026-11-29 05:00:00

The objective's owner (a person's name) is kept for ``okr_objective_info``; rows written
before this revision hold '' until their objective changes or ``okr-metrics rebuild``
replays the topic.

``checkin_counters`` was keyed by the owning departments joined by '+' (the old label
form). A row is now one department in one cycle. The counts held are split among the
joined departments (each owner keeps the whole count, as a shared target's check-in now
counts for every owner) under the cycle ``unknown``: which cycle they fell in was not
recorded. ``okr-metrics rebuild`` recounts everything by cycle.
"""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = '0002_owner_cycle_counters'
down_revision = '0001'
branch_labels = None
depends_on = None

UNKNOWN_CYCLE = 'unknown'


def upgrade() -> None:
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=100), nullable=False,
                                      server_default=''))

    connection = op.get_bind()
    old = sa.table('checkin_counters', sa.column('department', sa.String),
                   sa.column('count', sa.BigInteger))
    counts: dict[str, int] = defaultdict(int)
    for department, count in connection.execute(sa.select(old.c.department, old.c.count)):
        for one in department.split('+'):
            counts[one] += count
    op.drop_table('checkin_counters')
    new = op.create_table(
        'checkin_counters',
        sa.Column('department', sa.String(length=40), nullable=False),
        sa.Column('cycle', sa.String(length=40), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('department', 'cycle', name=op.f('pk_checkin_counters')))
    if counts:
        op.bulk_insert(new, [{'department': d[:40], 'cycle': UNKNOWN_CYCLE, 'count': n}
                             for d, n in sorted(counts.items())])


def downgrade() -> None:
    connection = op.get_bind()
    new = sa.table('checkin_counters', sa.column('department', sa.String),
                   sa.column('count', sa.BigInteger))
    counts: dict[str, int] = defaultdict(int)
    for department, count in connection.execute(sa.select(new.c.department, new.c.count)):
        counts[department] += count
    op.drop_table('checkin_counters')
    old = op.create_table(
        'checkin_counters',
        sa.Column('department', sa.String(length=400), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('department', name=op.f('pk_checkin_counters')))
    if counts:
        op.bulk_insert(old, [{'department': d, 'count': n} for d, n in sorted(counts.items())])
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.drop_column('owner')
