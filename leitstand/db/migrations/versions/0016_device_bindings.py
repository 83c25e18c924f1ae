"""device bindings and connections: a device is reached by (transport, connection, external id)

`device_connections` are a tenant's endpoints of non-native transports (a LoRaWAN network
server, an OCPP endpoint, a meter-file source) with their secrets sealed. `device_bindings`
name how each device is reached. Every existing device gets its native binding: transport
"native", no connection, its serial as the external id; that is how MQTT and HTTP ingest
resolve it from now on. The native namespace is kept unique by partial indexes, since NULL
connection ids never collide in a unique constraint (see leitstand.devices.models).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base
from leitstand.db.base import json_kind

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

NATIVE_ONLY = sa.text("connection_id IS NULL")


def upgrade() -> None:
    op.create_table('device_connections',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('transport', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('secrets_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint(json_kind(sa.column('settings')).in_(['object']),
                       name=op.f('ck_device_connections_settings_is_object')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_device_connections_tenant_id_tenants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_connections')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_device_connections_tenant_id'))
    )
    op.create_index(op.f('ix_device_connections_tenant_id'), 'device_connections', ['tenant_id'], unique=False)
    op.create_table('device_bindings',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('transport', sa.String(length=32), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=True),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(transport = 'native' AND connection_id IS NULL) OR "
                       "(transport <> 'native' AND connection_id IS NOT NULL)",
                       name=op.f('ck_device_bindings_native_has_no_connection')),
    sa.ForeignKeyConstraint(['connection_id'], ['device_connections.id'],
                            name=op.f('fk_device_bindings_connection_id_device_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_bindings_device_id_devices'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_bindings')),
    sa.UniqueConstraint('connection_id', 'device_id', name='uq_device_bindings_connection_device'),
    sa.UniqueConstraint('connection_id', 'external_id', name='uq_device_bindings_connection_external_id')
    )
    op.create_index(op.f('ix_device_bindings_connection_id'), 'device_bindings', ['connection_id'], unique=False)
    op.create_index(op.f('ix_device_bindings_device_id'), 'device_bindings', ['device_id'], unique=False)
    op.create_index('uq_device_bindings_native_device', 'device_bindings', ['device_id'], unique=True,
                    sqlite_where=NATIVE_ONLY, postgresql_where=NATIVE_ONLY)
    op.create_index('uq_device_bindings_native_external_id', 'device_bindings', ['external_id'], unique=True,
                    sqlite_where=NATIVE_ONLY, postgresql_where=NATIVE_ONLY)
    # Every device so far was reached natively, by its serial.
    op.execute("INSERT INTO device_bindings (device_id, transport, connection_id, external_id, created_at) "
               "SELECT id, 'native', NULL, serial_number, created_at FROM devices")


def downgrade() -> None:
    op.drop_index('uq_device_bindings_native_external_id', table_name='device_bindings')
    op.drop_index('uq_device_bindings_native_device', table_name='device_bindings')
    op.drop_index(op.f('ix_device_bindings_device_id'), table_name='device_bindings')
    op.drop_index(op.f('ix_device_bindings_connection_id'), table_name='device_bindings')
    op.drop_table('device_bindings')
    op.drop_index(op.f('ix_device_connections_tenant_id'), table_name='device_connections')
    op.drop_table('device_connections')
