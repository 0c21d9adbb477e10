"""read model

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 04:18:20.672861
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('checkin_counters',
    sa.Column('department', sa.String(length=400), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('department', name=op.f('pk_checkin_counters'))
    )
    op.create_table('contributions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('child_type', sa.String(length=20), nullable=False),
    sa.Column('child_id', sa.String(length=64), nullable=False),
    sa.Column('parent_type', sa.String(length=20), nullable=False),
    sa.Column('parent_id', sa.String(length=64), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contributions'))
    )
    with op.batch_alter_table('contributions', schema=None) as batch_op:
        batch_op.create_index('ix_contributions_child_id', ['child_id'], unique=False)
        batch_op.create_index('ix_contributions_parent_id', ['parent_id'], unique=False)

    op.create_table('cycles',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_cycles'))
    )
    op.create_table('key_results',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('objective_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('measure', sa.String(length=20), nullable=False),
    sa.Column('aggregation', sa.String(length=20), nullable=False),
    sa.Column('start', sa.Float(), nullable=False),
    sa.Column('target', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('checked_in', sa.Float(), nullable=True),
    sa.Column('given_confidence', sa.Float(), nullable=True),
    sa.Column('last_checkin_at', sa.Float(), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('progress', sa.Float(), nullable=True),
    sa.Column('attainment', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_results'))
    )
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.create_index('ix_key_results_objective_id', ['objective_id'], unique=False)

    op.create_table('links',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('from_type', sa.String(length=20), nullable=False),
    sa.Column('from_id', sa.String(length=64), nullable=False),
    sa.Column('from_department', sa.String(length=40), nullable=False),
    sa.Column('to_type', sa.String(length=20), nullable=False),
    sa.Column('to_id', sa.String(length=64), nullable=False),
    sa.Column('to_department', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_links'))
    )
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.create_index('ix_links_from_id', ['from_id'], unique=False)
        batch_op.create_index('ix_links_to_id', ['to_id'], unique=False)

    op.create_table('objectives',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('cycle', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('departments', sa.String(length=400), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('archived', sa.Boolean(), nullable=False),
    sa.Column('progress', sa.Float(), nullable=True),
    sa.Column('attainment', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objectives'))
    )
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.create_index('ix_objectives_cycle_kind', ['cycle', 'kind'], unique=False)

    op.create_table('outbox_events',
    sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('message_key', sa.String(length=200), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('kafka_partition', sa.Integer(), nullable=True),
    sa.Column('kafka_offset', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('position', name=op.f('pk_outbox_events')),
    sa.UniqueConstraint('event_id', name=op.f('uq_outbox_events_event_id'))
    )
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_events_published_at', ['published_at'], unique=False)
        batch_op.create_index('ix_outbox_events_unpublished', ['position'], unique=False, postgresql_where=sa.text('published_at IS NULL'), sqlite_where=sa.text('published_at IS NULL'))

    op.create_table('processed_events',
    sa.Column('consumer', sa.String(length=200), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'event_id', name=op.f('pk_processed_events'))
    )
    op.create_table('removed_items',
    sa.Column('item_type', sa.String(length=20), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('item_type', 'item_id', name=op.f('pk_removed_items'))
    )


def downgrade() -> None:
    op.drop_table('removed_items')
    op.drop_table('processed_events')
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_events_unpublished', postgresql_where=sa.text('published_at IS NULL'), sqlite_where=sa.text('published_at IS NULL'))
        batch_op.drop_index('ix_outbox_events_published_at')

    op.drop_table('outbox_events')
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.drop_index('ix_objectives_cycle_kind')

    op.drop_table('objectives')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index('ix_links_to_id')
        batch_op.drop_index('ix_links_from_id')

    op.drop_table('links')
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.drop_index('ix_key_results_objective_id')

    op.drop_table('key_results')
    op.drop_table('cycles')
    with op.batch_alter_table('contributions', schema=None) as batch_op:
        batch_op.drop_index('ix_contributions_parent_id')
        batch_op.drop_index('ix_contributions_child_id')

    op.drop_table('contributions')
    op.drop_table('checkin_counters')
