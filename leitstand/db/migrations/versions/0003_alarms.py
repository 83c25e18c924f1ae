"""alarms: alarm rules, alarms and their history

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alarm_rule_states',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('rule_key', sa.String(length=64), nullable=False),
    sa.Column('pending_since', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('raised', sa.Boolean(), nullable=False),
    sa.Column('last_value', sa.Float(), nullable=True),
    sa.Column('updated_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_alarm_rule_states_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_id', 'rule_key', name=op.f('pk_alarm_rule_states'))
    )
    op.create_table('alarm_rules',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=True),
    sa.Column('type_key', sa.String(length=64), nullable=False),
    sa.Column('target_kind', sa.String(length=20), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('condition', sa.JSON(), nullable=False),
    sa.Column('updated_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_alarm_rules_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_alarm_rules_site_id_sites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_alarm_rules_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['type_key'], ['device_types.key'], name=op.f('fk_alarm_rules_type_key_device_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alarm_rules'))
    )
    op.create_index(op.f('ix_alarm_rules_device_id'), 'alarm_rules', ['device_id'], unique=False)
    op.create_index(op.f('ix_alarm_rules_site_id'), 'alarm_rules', ['site_id'], unique=False)
    op.create_index(op.f('ix_alarm_rules_tenant_id'), 'alarm_rules', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_alarm_rules_type_key'), 'alarm_rules', ['type_key'], unique=False)
    op.create_table('alarms',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('key', sa.String(length=130), nullable=False),
    sa.Column('open_key', sa.String(length=130), nullable=True),
    sa.Column('rule_key', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('title_de', sa.String(length=200), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('raised_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('acknowledged_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('cleared_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('cleared_by_id', sa.Integer(), nullable=True),
    sa.Column('cleared_how', sa.String(length=10), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_alarms_acknowledged_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_alarms_assignee_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['cleared_by_id'], ['users.id'], name=op.f('fk_alarms_cleared_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_alarms_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_alarms_site_id_sites'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_alarms_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alarms')),
    sa.UniqueConstraint('device_id', 'open_key', name='uq_alarms_one_open_per_key')
    )
    op.create_index(op.f('ix_alarms_assignee_id'), 'alarms', ['assignee_id'], unique=False)
    op.create_index('ix_alarms_device_raised', 'alarms', ['device_id', 'raised_at'], unique=False)
    op.create_index(op.f('ix_alarms_site_id'), 'alarms', ['site_id'], unique=False)
    op.create_index('ix_alarms_tenant_state', 'alarms', ['tenant_id', 'state'], unique=False)
    op.create_table('alarm_comments',
    sa.Column('alarm_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alarm_id'], ['alarms.id'], name=op.f('fk_alarm_comments_alarm_id_alarms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_alarm_comments_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_alarm_comments_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alarm_comments'))
    )
    op.create_index(op.f('ix_alarm_comments_alarm_id'), 'alarm_comments', ['alarm_id'], unique=False)
    op.create_index(op.f('ix_alarm_comments_device_id'), 'alarm_comments', ['device_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_alarm_comments_device_id'), table_name='alarm_comments')
    op.drop_index(op.f('ix_alarm_comments_alarm_id'), table_name='alarm_comments')
    op.drop_table('alarm_comments')
    op.drop_index('ix_alarms_tenant_state', table_name='alarms')
    op.drop_index(op.f('ix_alarms_site_id'), table_name='alarms')
    op.drop_index('ix_alarms_device_raised', table_name='alarms')
    op.drop_index(op.f('ix_alarms_assignee_id'), table_name='alarms')
    op.drop_table('alarms')
    op.drop_index(op.f('ix_alarm_rules_type_key'), table_name='alarm_rules')
    op.drop_index(op.f('ix_alarm_rules_tenant_id'), table_name='alarm_rules')
    op.drop_index(op.f('ix_alarm_rules_site_id'), table_name='alarm_rules')
    op.drop_index(op.f('ix_alarm_rules_device_id'), table_name='alarm_rules')
    op.drop_table('alarm_rules')
    op.drop_table('alarm_rule_states')
