"""notices stored once: event deliveries and digest items reference a row of ``notices``
instead of each holding a copy of the notice's JSON

Existing rows move: each event delivery's payload becomes a notice (its id the delivery's),
each digest item's notice one too (its id ``digest-item:<position>``); a digest delivery
keeps its payload. Downgrade copies the notices back.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 20:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_PENDING = sa.text('delivery_id IS NULL')


def upgrade() -> None:
    op.create_table('notices',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices'))
    )
    op.create_index('ix_notices_created_at', 'notices', ['created_at'])
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_id', sa.String(length=36), nullable=True))
        batch_op.alter_column('payload', existing_type=sa.Text(), nullable=True)
    op.add_column('digest_items', sa.Column('notice_id', sa.String(length=36), nullable=True))

    op.execute("INSERT INTO notices (id, body, created_at) "
               "SELECT id, payload, created_at FROM deliveries WHERE kind = 'event'")
    op.execute("UPDATE deliveries SET notice_id = id, payload = NULL WHERE kind = 'event'")
    item_notice = "'digest-item:' || CAST(position AS VARCHAR(20))"
    op.execute(f"INSERT INTO notices (id, body, created_at) "
               f"SELECT {item_notice}, notice, created_at FROM digest_items")
    op.execute(f"UPDATE digest_items SET notice_id = {item_notice}")

    # SQLite copies the table: its partial index is made again after, as it was
    op.drop_index('ix_digest_items_pending', table_name='digest_items',
                  postgresql_where=_PENDING, sqlite_where=_PENDING)
    with op.batch_alter_table('digest_items', schema=None) as batch_op:
        batch_op.alter_column('notice_id', existing_type=sa.String(length=36), nullable=False)
        batch_op.drop_column('notice')
    op.create_index('ix_digest_items_pending', 'digest_items', ['subscription_id', 'created_at'],
                    postgresql_where=_PENDING, sqlite_where=_PENDING)
    op.create_index('ix_digest_items_notice_id', 'digest_items', ['notice_id'])
    op.create_index('ix_deliveries_notice_id', 'deliveries', ['notice_id'])


def downgrade() -> None:
    op.drop_index('ix_deliveries_notice_id', table_name='deliveries')
    op.drop_index('ix_digest_items_notice_id', table_name='digest_items')
    op.add_column('digest_items', sa.Column('notice', sa.Text(), nullable=True))
    op.execute("UPDATE digest_items SET notice = "
               "(SELECT body FROM notices WHERE notices.id = digest_items.notice_id)")
    op.execute("UPDATE deliveries SET payload = "
               "(SELECT body FROM notices WHERE notices.id = deliveries.notice_id) "
               "WHERE notice_id IS NOT NULL")
    op.drop_index('ix_digest_items_pending', table_name='digest_items',
                  postgresql_where=_PENDING, sqlite_where=_PENDING)
    with op.batch_alter_table('digest_items', schema=None) as batch_op:
        batch_op.alter_column('notice', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('notice_id')
    op.create_index('ix_digest_items_pending', 'digest_items', ['subscription_id', 'created_at'],
                    postgresql_where=_PENDING, sqlite_where=_PENDING)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.alter_column('payload', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('notice_id')
    op.drop_index('ix_notices_created_at', table_name='notices')
    op.drop_table('notices')
