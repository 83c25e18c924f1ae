"""telemetry: queue of points whose rollups are deferred

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No primary key and no index, on purpose: ingest appends one row per numeric point, and
    # the drain removes rows by their physical address (ctid). A logged table: a crash must
    # not lose rollup work that is still pending.
    op.create_table('telemetry_rollup_queue',
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('ts', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('num', sa.Float(), nullable=False),
    sa.Column('zone', sa.String(length=64), nullable=False)
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Code before this revision knows no queue: pending points reach their rollups first.
        op.execute(
            "INSERT INTO telemetry_rollups (device_id, key, period, bucket_start, count, sum, min, max,"
            " last_value, last_ts)"
            " SELECT device_id, key, period, bucket_start, count(*), sum(num), min(num), max(num),"
            " (array_agg(num ORDER BY ts DESC))[1], max(ts) FROM ("
            "  SELECT q.device_id, q.key, q.ts, q.num, p.period,"
            "  CASE p.period WHEN 'hour' THEN date_trunc('hour', q.ts, 'UTC')"
            "  WHEN 'day' THEN date_trunc('day', q.ts, q.zone) ELSE date_trunc('month', q.ts, q.zone) END"
            "  AS bucket_start"
            "  FROM telemetry_rollup_queue q CROSS JOIN (VALUES ('hour'), ('day'), ('month')) AS p (period)) AS points"
            " GROUP BY device_id, key, period, bucket_start"
            " ON CONFLICT (device_id, key, period, bucket_start) DO UPDATE SET"
            " count = telemetry_rollups.count + excluded.count, sum = telemetry_rollups.sum + excluded.sum,"
            " min = least(telemetry_rollups.min, excluded.min), max = greatest(telemetry_rollups.max, excluded.max),"
            " last_value = CASE WHEN excluded.last_ts > telemetry_rollups.last_ts"
            " THEN excluded.last_value ELSE telemetry_rollups.last_value END,"
            " last_ts = greatest(telemetry_rollups.last_ts, excluded.last_ts)"
        )
    op.drop_table('telemetry_rollup_queue')
