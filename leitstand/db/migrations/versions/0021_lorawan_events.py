"""network-server events: replays refused by event id, commands named by the network's downlink id

`connection_events` keeps the ids of the events each connection's network server sent (a
ChirpStack deduplication id, a TTS correlation id) for a week, so that a replayed event is
refused. `commands.network_ref` is a ChirpStack queue item id, which its `txack` and `ack`
events name instead of the command. Nothing exists yet to fill in.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('connection_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('received_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['device_connections.id'],
                            name=op.f('fk_connection_events_connection_id_device_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connection_events')),
    sa.UniqueConstraint('connection_id', 'event_id', name=op.f('uq_connection_events_connection_id'))
    )
    with op.batch_alter_table('connection_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_connection_events_received_at'), ['received_at'], unique=False)
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('network_ref', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_commands_network_ref'), ['network_ref'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commands_network_ref'))
        batch_op.drop_column('network_ref')
    with op.batch_alter_table('connection_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_connection_events_received_at'))
    op.drop_table('connection_events')
