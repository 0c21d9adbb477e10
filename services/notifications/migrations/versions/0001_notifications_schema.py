"""notifications schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 04:18:57.351433
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deliveries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('subscription_id', sa.String(length=36), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('message_type', sa.String(length=100), nullable=False),
    sa.Column('objective_id', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('subscription_id', 'event_id', name='uq_deliveries_subscription_event')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_deliveries_recipient_created', ['recipient', 'created_at'], unique=False)

    op.create_table('digest_items',
    sa.Column('position', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('subscription_id', sa.String(length=36), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('notice', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivery_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('position', name=op.f('pk_digest_items')),
    sa.UniqueConstraint('subscription_id', 'event_id', name='uq_digest_items_subscription_event')
    )
    with op.batch_alter_table('digest_items', schema=None) as batch_op:
        batch_op.create_index('ix_digest_items_pending', ['subscription_id', 'created_at'], unique=False, postgresql_where=sa.text('delivery_id IS NULL'), sqlite_where=sa.text('delivery_id IS NULL'))

    op.create_table('key_results',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('objective_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_results'))
    )
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.create_index('ix_key_results_objective_id', ['objective_id'], unique=False)

    op.create_table('links',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('from_department', sa.String(length=40), nullable=False),
    sa.Column('to_type', sa.String(length=20), nullable=False),
    sa.Column('to_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_links'))
    )
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.create_index('ix_links_to_id', ['to_id'], unique=False)

    op.create_table('objectives',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('departments', sa.Text(), nullable=False),
    sa.Column('cycle', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objectives'))
    )
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
    op.create_table('subscription_revision',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_revision'))
    )
    op.create_table('subscriptions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=40), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('target', sa.String(length=2000), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=True),
    sa.Column('filters', sa.Text(), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('digest_interval_seconds', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_subscriptions_department', ['department'], unique=False)

    op.bulk_insert(sa.table('subscription_revision', sa.column('id', sa.Integer),
                            sa.column('revision', sa.BigInteger)), [{'id': 1, 'revision': 0}])


def downgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_subscriptions_department')

    op.drop_table('subscriptions')
    op.drop_table('subscription_revision')
    op.drop_table('processed_events')
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_events_unpublished', postgresql_where=sa.text('published_at IS NULL'), sqlite_where=sa.text('published_at IS NULL'))
        batch_op.drop_index('ix_outbox_events_published_at')

    op.drop_table('outbox_events')
    op.drop_table('objectives')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index('ix_links_to_id')

    op.drop_table('links')
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.drop_index('ix_key_results_objective_id')

    op.drop_table('key_results')
    with op.batch_alter_table('digest_items', schema=None) as batch_op:
        batch_op.drop_index('ix_digest_items_pending', postgresql_where=sa.text('delivery_id IS NULL'), sqlite_where=sa.text('delivery_id IS NULL'))

    op.drop_table('digest_items')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_recipient_created')
        batch_op.drop_index('ix_deliveries_due')

    op.drop_table('deliveries')
