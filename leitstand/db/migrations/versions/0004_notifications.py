"""notifications: notification routing, subscriptions, webhooks and deliveries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification_keys',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('private_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('public_key', sa.String(length=200), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_notification_keys'))
    )
    op.create_table('notification_rules',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('severities', sa.JSON(), nullable=False),
    sa.Column('site_ids', sa.JSON(), nullable=False),
    sa.Column('device_type_keys', sa.JSON(), nullable=False),
    sa.Column('user_ids', sa.JSON(), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('webhook_ids', sa.JSON(), nullable=False),
    sa.Column('escalate_after_minutes', sa.Integer(), nullable=True),
    sa.Column('escalation_user_ids', sa.JSON(), nullable=False),
    sa.Column('escalation_roles', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_notification_rules_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_rules'))
    )
    op.create_index(op.f('ix_notification_rules_tenant_id'), 'notification_rules', ['tenant_id'], unique=False)
    op.create_table('notification_webhooks',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('secret_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_notification_webhooks_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_webhooks'))
    )
    op.create_index(op.f('ix_notification_webhooks_tenant_id'), 'notification_webhooks', ['tenant_id'], unique=False)
    op.create_table('notification_deliveries',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('alarm_id', sa.Integer(), nullable=True),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('webhook_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('target', sa.String(length=2000), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('event_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('latency_ms', sa.Float(), nullable=True),
    sa.Column('attempt_ms', sa.Float(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_attempt_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('dead_lettered', sa.Boolean(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['notification_rules.id'], name=op.f('fk_notification_deliveries_rule_id_notification_rules'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_notification_deliveries_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_deliveries_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['webhook_id'], ['notification_webhooks.id'], name=op.f('fk_notification_deliveries_webhook_id_notification_webhooks'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_deliveries'))
    )
    op.create_index(op.f('ix_notification_deliveries_alarm_id'), 'notification_deliveries', ['alarm_id'], unique=False)
    op.create_index(op.f('ix_notification_deliveries_dead_lettered'), 'notification_deliveries', ['dead_lettered'], unique=False)
    op.create_index(op.f('ix_notification_deliveries_next_attempt_at'), 'notification_deliveries', ['next_attempt_at'], unique=False)
    op.create_index(op.f('ix_notification_deliveries_outcome'), 'notification_deliveries', ['outcome'], unique=False)
    op.create_index(op.f('ix_notification_deliveries_rule_id'), 'notification_deliveries', ['rule_id'], unique=False)
    op.create_index(op.f('ix_notification_deliveries_tenant_id'), 'notification_deliveries', ['tenant_id'], unique=False)
    op.create_index(op.f('ix_notification_deliveries_user_id'), 'notification_deliveries', ['user_id'], unique=False)
    op.create_index(op.f('ix_notification_deliveries_webhook_id'), 'notification_deliveries', ['webhook_id'], unique=False)
    op.create_table('notification_site_mutes',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_notification_site_mutes_site_id_sites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_site_mutes_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_site_mutes')),
    sa.UniqueConstraint('user_id', 'site_id', name=op.f('uq_notification_site_mutes_user_id'))
    )
    op.create_index(op.f('ix_notification_site_mutes_site_id'), 'notification_site_mutes', ['site_id'], unique=False)
    op.create_index(op.f('ix_notification_site_mutes_user_id'), 'notification_site_mutes', ['user_id'], unique=False)
    op.create_table('push_subscriptions',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=1000), nullable=False),
    sa.Column('p256dh', sa.String(length=200), nullable=False),
    sa.Column('auth', sa.String(length=100), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=False),
    sa.Column('last_used_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_push_subscriptions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_subscriptions')),
    sa.UniqueConstraint('endpoint', name=op.f('uq_push_subscriptions_endpoint'))
    )
    op.create_index(op.f('ix_push_subscriptions_user_id'), 'push_subscriptions', ['user_id'], unique=False)
    op.create_table('notification_escalations',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('alarm_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('escalate_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('settled_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('alarm', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alarm_id'], ['alarms.id'], name=op.f('fk_notification_escalations_alarm_id_alarms'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['notification_rules.id'], name=op.f('fk_notification_escalations_rule_id_notification_rules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_notification_escalations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_escalations')),
    sa.UniqueConstraint('alarm_id', 'rule_id', name=op.f('uq_notification_escalations_alarm_id'))
    )
    op.create_index(op.f('ix_notification_escalations_alarm_id'), 'notification_escalations', ['alarm_id'], unique=False)
    op.create_index(op.f('ix_notification_escalations_escalate_at'), 'notification_escalations', ['escalate_at'], unique=False)
    op.create_index(op.f('ix_notification_escalations_rule_id'), 'notification_escalations', ['rule_id'], unique=False)
    op.create_index(op.f('ix_notification_escalations_tenant_id'), 'notification_escalations', ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_notification_escalations_tenant_id'), table_name='notification_escalations')
    op.drop_index(op.f('ix_notification_escalations_rule_id'), table_name='notification_escalations')
    op.drop_index(op.f('ix_notification_escalations_escalate_at'), table_name='notification_escalations')
    op.drop_index(op.f('ix_notification_escalations_alarm_id'), table_name='notification_escalations')
    op.drop_table('notification_escalations')
    op.drop_index(op.f('ix_push_subscriptions_user_id'), table_name='push_subscriptions')
    op.drop_table('push_subscriptions')
    op.drop_index(op.f('ix_notification_site_mutes_user_id'), table_name='notification_site_mutes')
    op.drop_index(op.f('ix_notification_site_mutes_site_id'), table_name='notification_site_mutes')
    op.drop_table('notification_site_mutes')
    op.drop_index(op.f('ix_notification_deliveries_webhook_id'), table_name='notification_deliveries')
    op.drop_index(op.f('ix_notification_deliveries_user_id'), table_name='notification_deliveries')
    op.drop_index(op.f('ix_notification_deliveries_tenant_id'), table_name='notification_deliveries')
    op.drop_index(op.f('ix_notification_deliveries_rule_id'), table_name='notification_deliveries')
    op.drop_index(op.f('ix_notification_deliveries_outcome'), table_name='notification_deliveries')
    op.drop_index(op.f('ix_notification_deliveries_next_attempt_at'), table_name='notification_deliveries')
    op.drop_index(op.f('ix_notification_deliveries_dead_lettered'), table_name='notification_deliveries')
    op.drop_index(op.f('ix_notification_deliveries_alarm_id'), table_name='notification_deliveries')
    op.drop_table('notification_deliveries')
    op.drop_index(op.f('ix_notification_webhooks_tenant_id'), table_name='notification_webhooks')
    op.drop_table('notification_webhooks')
    op.drop_index(op.f('ix_notification_rules_tenant_id'), table_name='notification_rules')
    op.drop_table('notification_rules')
    op.drop_table('notification_keys')
