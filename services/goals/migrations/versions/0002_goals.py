"""objectives key results check-ins contributions links

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:32:26.955063
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contributions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('child_type', sa.String(length=20), nullable=False),
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('parent_type', sa.String(length=20), nullable=False),
    sa.Column('parent_id', sa.String(length=36), nullable=False),
    sa.Column('weight', sa.Double(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contributions')),
    sa.UniqueConstraint('child_id', 'parent_id', name='uq_contributions_edge')
    )
    with op.batch_alter_table('contributions', schema=None) as batch_op:
        batch_op.create_index('ix_contributions_parent', ['parent_id'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('principal', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('principal', 'key', name=op.f('pk_idempotency_keys'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_keys_created_at'), ['created_at'], unique=False)

    op.create_table('links',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('from_type', sa.String(length=20), nullable=False),
    sa.Column('from_id', sa.String(length=36), nullable=False),
    sa.Column('from_department', sa.String(length=40), nullable=False),
    sa.Column('to_type', sa.String(length=20), nullable=False),
    sa.Column('to_id', sa.String(length=36), nullable=False),
    sa.Column('to_department', sa.String(length=40), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['from_department'], ['departments.key'], name=op.f('fk_links_from_department_departments')),
    sa.ForeignKeyConstraint(['to_department'], ['departments.key'], name=op.f('fk_links_to_department_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_links')),
    sa.UniqueConstraint('from_id', 'to_id', 'kind', name='uq_links_edge')
    )
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_links_from_department'), ['from_department'], unique=False)
        batch_op.create_index(batch_op.f('ix_links_from_id'), ['from_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_links_to_department'), ['to_department'], unique=False)
        batch_op.create_index(batch_op.f('ix_links_to_id'), ['to_id'], unique=False)

    op.create_table('objectives',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('cycle', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('owner', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cycle'], ['cycles.key'], name=op.f('fk_objectives_cycle_cycles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objectives'))
    )
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objectives_cycle'), ['cycle'], unique=False)

    op.create_table('key_results',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('objective_id', sa.String(length=36), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('measure', sa.String(length=20), nullable=False),
    sa.Column('start', sa.Double(), nullable=False),
    sa.Column('target', sa.Double(), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('weight', sa.Double(), nullable=False),
    sa.Column('aggregation', sa.String(length=20), nullable=False),
    sa.Column('current', sa.Double(), nullable=False),
    sa.Column('confidence', sa.Double(), nullable=True),
    sa.Column('last_checkin_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['objective_id'], ['objectives.id'], name=op.f('fk_key_results_objective_id_objectives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_results'))
    )
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_results_objective_id'), ['objective_id'], unique=False)

    op.create_table('objective_departments',
    sa.Column('objective_id', sa.String(length=36), nullable=False),
    sa.Column('department_key', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['department_key'], ['departments.key'], name=op.f('fk_objective_departments_department_key_departments')),
    sa.ForeignKeyConstraint(['objective_id'], ['objectives.id'], name=op.f('fk_objective_departments_objective_id_objectives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('objective_id', 'department_key', name=op.f('pk_objective_departments'))
    )
    with op.batch_alter_table('objective_departments', schema=None) as batch_op:
        batch_op.create_index('ix_objective_departments_department', ['department_key'], unique=False)

    op.create_table('check_ins',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('key_result_id', sa.String(length=36), nullable=False),
    sa.Column('value', sa.Double(), nullable=False),
    sa.Column('confidence', sa.Double(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['key_result_id'], ['key_results.id'], name=op.f('fk_check_ins_key_result_id_key_results'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_ins'))
    )
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.create_index('ix_check_ins_key_result_time', ['key_result_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.drop_index('ix_check_ins_key_result_time')

    op.drop_table('check_ins')
    with op.batch_alter_table('objective_departments', schema=None) as batch_op:
        batch_op.drop_index('ix_objective_departments_department')

    op.drop_table('objective_departments')
    with op.batch_alter_table('key_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_key_results_objective_id'))

    op.drop_table('key_results')
    with op.batch_alter_table('objectives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objectives_cycle'))

    op.drop_table('objectives')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_links_to_id'))
        batch_op.drop_index(batch_op.f('ix_links_to_department'))
        batch_op.drop_index(batch_op.f('ix_links_from_id'))
        batch_op.drop_index(batch_op.f('ix_links_from_department'))

    op.drop_table('links')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_keys_created_at'))

    op.drop_table('idempotency_keys')
    with op.batch_alter_table('contributions', schema=None) as batch_op:
        batch_op.drop_index('ix_contributions_parent')

    op.drop_table('contributions')
