"""maintenance: maintenance plans and the inspection book

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('maintenance_plans',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('interval_months', sa.Integer(), nullable=True),
    sa.Column('lead_days', sa.Integer(), nullable=False),
    sa.Column('counter_key', sa.String(length=64), nullable=True),
    sa.Column('counter_every', sa.BigInteger(), nullable=True),
    sa.Column('lead_count', sa.BigInteger(), nullable=False),
    sa.Column('checklist', sa.JSON(), nullable=False),
    sa.Column('default_key', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('last_done_on', sa.Date(), nullable=True),
    sa.Column('baseline_count', sa.Float(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('warn_on', sa.Date(), nullable=True),
    sa.Column('due_count', sa.Float(), nullable=True),
    sa.Column('warn_count', sa.Float(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_maintenance_plans_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_maintenance_plans_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_maintenance_plans'))
    )
    with op.batch_alter_table('maintenance_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maintenance_plans_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_maintenance_plans_device_active', ['device_id', 'active'], unique=False)

    op.create_table('inspection_entries',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('performed_on', sa.Date(), nullable=False),
    sa.Column('technician_user_id', sa.Integer(), nullable=True),
    sa.Column('technician_name', sa.String(length=200), nullable=False),
    sa.Column('checklist', sa.JSON(), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('signature_name', sa.String(length=200), nullable=False),
    sa.Column('next_due_on', sa.Date(), nullable=True),
    sa.Column('counter_reading', sa.Float(), nullable=True),
    sa.Column('completed_plan_ids', sa.JSON(), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_inspection_entries_created_by_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_inspection_entries_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['technician_user_id'], ['users.id'], name=op.f('fk_inspection_entries_technician_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_inspection_entries_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_entries'))
    )
    with op.batch_alter_table('inspection_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_entries_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_inspection_entries_device_performed', ['device_id', 'performed_on'], unique=False)

    op.create_table('inspection_attachments',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_inspection_attachments_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entry_id'], ['inspection_entries.id'], name=op.f('fk_inspection_attachments_entry_id_inspection_entries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_inspection_attachments_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_attachments')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_inspection_attachments_storage_key'))
    )
    with op.batch_alter_table('inspection_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_attachments_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_attachments_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_attachments_entry_id'), ['entry_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inspection_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_attachments_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_attachments_entry_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_attachments_device_id'))
    op.drop_table('inspection_attachments')
    with op.batch_alter_table('inspection_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspection_entries_tenant_id'))
        batch_op.drop_index('ix_inspection_entries_device_performed')
    op.drop_table('inspection_entries')
    with op.batch_alter_table('maintenance_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maintenance_plans_tenant_id'))
        batch_op.drop_index('ix_maintenance_plans_device_active')
    op.drop_table('maintenance_plans')
