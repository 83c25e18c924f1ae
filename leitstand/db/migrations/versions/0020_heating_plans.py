"""heating plans: named 24-hour plans, their assignments per weekday and level, modes, engine state

heating_plans: a named day plan (24 hourly targets), its limits and overrule minutes.
heating_assignments: a plan bound to a thermostat, room, group or building for a set of weekdays.
heating_modes: PLAN/MANUAL/FIX per thermostat or room. heating_thermostat_states: the last change
at the device (overrule), the last target sent, the sends of the last 24 h, a pending re-join.
Nothing exists yet, so nothing is moved. (Another branch may also add 0020; renumber at merge.)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base
from leitstand.db.base import json_kind

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('heating_plans',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('targets', sa.JSON(), nullable=False),
    sa.Column('min_celsius', sa.Float(), nullable=False),
    sa.Column('max_celsius', sa.Float(), nullable=False),
    sa.Column('overrule_minutes', sa.Integer(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint(json_kind(sa.column('targets')).in_(['array']), name=op.f('ck_heating_plans_targets_is_array')),
    sa.CheckConstraint('min_celsius <= max_celsius', name=op.f('ck_heating_plans_limits_in_order')),
    sa.CheckConstraint('overrule_minutes >= 0', name=op.f('ck_heating_plans_overrule_not_negative')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_heating_plans_site_id_sites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_heating_plans_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heating_plans'))
    )
    with op.batch_alter_table('heating_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_heating_plans_site_id'), ['site_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_heating_plans_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('heating_assignments',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=20), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('weekdays', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint(json_kind(sa.column('weekdays')).in_(['array']), name=op.f('ck_heating_assignments_weekdays_is_array')),
    sa.CheckConstraint('CASE WHEN device_id IS NULL THEN 0 ELSE 1 END + CASE WHEN site_id IS NULL THEN 0 ELSE 1 END + CASE WHEN group_id IS NULL THEN 0 ELSE 1 END = 1', name=op.f('ck_heating_assignments_one_target')),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_heating_assignments_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['site_groups.id'], name=op.f('fk_heating_assignments_group_id_site_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['plan_id'], ['heating_plans.id'], name=op.f('fk_heating_assignments_plan_id_heating_plans'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_heating_assignments_site_id_sites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_heating_assignments_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heating_assignments'))
    )
    with op.batch_alter_table('heating_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_heating_assignments_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_heating_assignments_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_heating_assignments_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_heating_assignments_site_id'), ['site_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_heating_assignments_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('heating_modes',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('celsius', sa.Float(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('CASE WHEN device_id IS NULL THEN 0 ELSE 1 END + CASE WHEN site_id IS NULL THEN 0 ELSE 1 END = 1', name=op.f('ck_heating_modes_one_target')),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_heating_modes_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_heating_modes_site_id_sites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_heating_modes_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heating_modes')),
    sa.UniqueConstraint('device_id', name='uq_heating_modes_device'),
    sa.UniqueConstraint('site_id', name='uq_heating_modes_site')
    )
    with op.batch_alter_table('heating_modes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_heating_modes_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('heating_thermostat_states',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('device_change_celsius', sa.Float(), nullable=True),
    sa.Column('device_change_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_sent_celsius', sa.Float(), nullable=True),
    sa.Column('last_sent_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.JSON(), nullable=False),
    sa.Column('rejoined_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('deferred_celsius', sa.Float(), nullable=True),
    sa.Column('deferred_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.CheckConstraint(json_kind(sa.column('sent_at')).in_(['array']), name=op.f('ck_heating_thermostat_states_sent_at_is_array')),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_heating_thermostat_states_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_heating_thermostat_states_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heating_thermostat_states')),
    sa.UniqueConstraint('device_id', name=op.f('uq_heating_thermostat_states_device_id'))
    )
    with op.batch_alter_table('heating_thermostat_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_heating_thermostat_states_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('heating_thermostat_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_heating_thermostat_states_tenant_id'))

    op.drop_table('heating_thermostat_states')
    with op.batch_alter_table('heating_modes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_heating_modes_tenant_id'))

    op.drop_table('heating_modes')
    with op.batch_alter_table('heating_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_heating_assignments_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_heating_assignments_site_id'))
        batch_op.drop_index(batch_op.f('ix_heating_assignments_plan_id'))
        batch_op.drop_index(batch_op.f('ix_heating_assignments_group_id'))
        batch_op.drop_index(batch_op.f('ix_heating_assignments_device_id'))

    op.drop_table('heating_assignments')
    with op.batch_alter_table('heating_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_heating_plans_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_heating_plans_site_id'))

    op.drop_table('heating_plans')
