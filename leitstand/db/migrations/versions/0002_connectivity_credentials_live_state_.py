"""connectivity: credentials, live state, events, telemetry, rollups, commands

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 20:41:25.544069
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _create_telemetry_table() -> None:
    """On PostgreSQL the point table is partitioned by month; partitions are added as data
    arrives (leitstand.telemetry.store.ensure_partitions), and a default partition catches the rest."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE telemetry ("
            " device_id integer NOT NULL, key varchar(64) NOT NULL, ts timestamp with time zone NOT NULL,"
            " num float, txt varchar(200),"
            " CONSTRAINT pk_telemetry PRIMARY KEY (device_id, key, ts)"
            ") PARTITION BY RANGE (ts)"
        )
        op.execute("CREATE TABLE telemetry_default PARTITION OF telemetry DEFAULT")
        return
    op.create_table('telemetry',
        sa.Column('device_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('ts', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column('num', sa.Float(), nullable=True),
        sa.Column('txt', sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint('device_id', 'key', 'ts', name=op.f('pk_telemetry'))
    )


def upgrade() -> None:
    _create_telemetry_table()
    op.create_table('telemetry_rollups',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=5), nullable=False),
    sa.Column('bucket_start', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('sum', sa.Float(), nullable=False),
    sa.Column('min', sa.Float(), nullable=False),
    sa.Column('max', sa.Float(), nullable=False),
    sa.Column('last_value', sa.Float(), nullable=False),
    sa.Column('last_ts', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'key', 'period', 'bucket_start', name=op.f('pk_telemetry_rollups'))
    )
    op.create_table('commands',
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('requested_by_user_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.String(length=300), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_commands_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_commands_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commands')),
    sa.UniqueConstraint('device_id', 'idempotency_key', name='uq_commands_idempotency'),
    sa.UniqueConstraint('public_id', name=op.f('uq_commands_public_id'))
    )
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commands_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_commands_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_commands_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('device_credentials',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('revoked_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_credentials_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_device_credentials_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_credentials')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_device_credentials_secret_hash'))
    )
    with op.batch_alter_table('device_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_credentials_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_credentials_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_credentials_username'), ['username'], unique=False)

    op.create_table('device_events',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_events_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_device_events_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_events')),
    sa.UniqueConstraint('device_id', 'at', 'kind', 'code', name='uq_device_events_once')
    )
    with op.batch_alter_table('device_events', schema=None) as batch_op:
        batch_op.create_index('ix_device_events_device_at', ['device_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_events_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('device_states',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('last_seen_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.Column('online_changed_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('latest', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_states_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_device_states_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_id', name=op.f('pk_device_states'))
    )
    with op.batch_alter_table('device_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_states_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('ingest_rejections',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('last_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_detail', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_ingest_rejections_device_id_devices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_id', 'reason', name=op.f('pk_ingest_rejections'))
    )
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('telemetry_retention_days', sa.Integer(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('telemetry_retention_days')

    op.drop_table('ingest_rejections')
    with op.batch_alter_table('device_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_states_tenant_id'))

    op.drop_table('device_states')
    with op.batch_alter_table('device_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_events_tenant_id'))
        batch_op.drop_index('ix_device_events_device_at')

    op.drop_table('device_events')
    with op.batch_alter_table('device_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_credentials_username'))
        batch_op.drop_index(batch_op.f('ix_device_credentials_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_device_credentials_device_id'))

    op.drop_table('device_credentials')
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commands_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_commands_status'))
        batch_op.drop_index(batch_op.f('ix_commands_device_id'))

    op.drop_table('commands')
    op.drop_table('telemetry_rollups')
    op.drop_table('telemetry')
