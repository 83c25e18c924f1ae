"""command states for every transport: queued, and succeeded/timed_out renamed confirmed/expired

Every transport maps its delivery feedback onto the same seven states: requested, queued
(a network server holds the downlink until the device next listens), sent, delivered,
confirmed, failed, expired. Stored rows are renamed (succeeded → confirmed, timed_out →
expired), `queued_at` records when a command was queued, and a CHECK keeps the status to
the seven. The devices' wire protocol keeps saying "succeeded"; only the stored name changes.

Downgrading renames back and turns a queued command into a sent one: before this revision
"sent" meant "the transport has it", which a queued command is.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# As of this revision; the models' list may grow later, this one does not.
STATUSES = ('requested', 'queued', 'sent', 'delivered', 'confirmed', 'failed', 'expired')
RENAMED = {'succeeded': 'confirmed', 'timed_out': 'expired'}
CHECK = 'ck_commands_status_is_known'


def _rename(renames: dict[str, str]) -> None:
    commands = sa.table('commands', sa.column('status', sa.String))
    for old, new in renames.items():
        op.execute(commands.update().where(commands.c.status == old).values(status=new))


def upgrade() -> None:
    _rename(RENAMED)
    # One rebuild on SQLite (batch mode); plain ALTER TABLE on PostgreSQL.
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queued_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(op.f(CHECK), sa.column('status').in_(STATUSES))


def downgrade() -> None:
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CHECK), type_='check')
    commands = sa.table('commands', sa.column('status', sa.String), sa.column('sent_at'), sa.column('queued_at'))
    op.execute(commands.update().where(commands.c.status == 'queued')
               .values(status='sent', sent_at=sa.func.coalesce(commands.c.sent_at, commands.c.queued_at)))
    _rename({new: old for old, new in RENAMED.items()})
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_column('queued_at')
