"""events: codes outside the device type's catalogue are kept, marked and counted

`device_events.unknown_code` marks an event whose code the device type's catalogue did not
list when it came. Until now such an event was stored as kind "event" with no severity,
and nothing else stored that kind, so those rows are marked. `unknown_event_codes` counts
such codes per device type from now on (earlier ones are not counted: the marked events
show them, and the next message with the code starts its counter and raises its alarm).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both backends: SQLite need not rebuild the table for it.
    op.add_column('device_events', sa.Column('unknown_code', sa.Boolean(), server_default=sa.false(), nullable=False))
    events = sa.table('device_events', sa.column('kind', sa.String()), sa.column('unknown_code', sa.Boolean()))
    op.execute(events.update().where(events.c.kind == 'event').values(unknown_code=sa.true()))

    op.create_table('unknown_event_codes',
    sa.Column('type_key', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('first_seen_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('first_device_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['first_device_id'], ['devices.id'], name=op.f('fk_unknown_event_codes_first_device_id_devices'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_unknown_event_codes_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['type_key'], ['device_types.key'], name=op.f('fk_unknown_event_codes_type_key_device_types'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('type_key', 'code', name=op.f('pk_unknown_event_codes'))
    )
    with op.batch_alter_table('unknown_event_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unknown_event_codes_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('unknown_event_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unknown_event_codes_tenant_id'))
    op.drop_table('unknown_event_codes')
    # SQLite (3.35 and later) drops a column without rebuilding the table, as PostgreSQL does.
    op.drop_column('device_events', 'unknown_code')
