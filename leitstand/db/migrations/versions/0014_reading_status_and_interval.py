"""telemetry: a value status per point and an optional interval end

Batch sources (meter files, uploads) deliver values a meter operator substituted,
provisional values and estimates, and energy values per quarter hour: `status` holds one
of measured, substitute, provisional, estimated (every existing point: measured), and
`interval_end` the end of the interval a value covers (its start is `ts`), NULL for a
value at an instant. Rollups carry neither. A partial index on (device_id, key) holds
only the points with a status or an interval: the tenant export asks per series whether
there are any.

On PostgreSQL a column with a constant default is added without rewriting the partitions;
the CHECK is verified against the existing rows once (a scan, no rewrite).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# As of this revision (leitstand.ingest.message.ReadingStatus).
STATUSES = ('measured', 'substitute', 'provisional', 'estimated')
MARKED = "status <> 'measured' OR interval_end IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table('telemetry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=12), server_default='measured', nullable=False))
        batch_op.add_column(sa.Column('interval_end', leitstand.db.base.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_telemetry_status_known'),
            "status IN (" + ", ".join(f"'{status}'" for status in STATUSES) + ")")
    op.create_index('ix_telemetry_marked', 'telemetry', ['device_id', 'key'], unique=False,
                    sqlite_where=sa.text(MARKED), postgresql_where=sa.text(MARKED))


def downgrade() -> None:
    op.drop_index('ix_telemetry_marked', table_name='telemetry')
    with op.batch_alter_table('telemetry', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_telemetry_status_known'), type_='check')
        batch_op.drop_column('interval_end')
        batch_op.drop_column('status')
