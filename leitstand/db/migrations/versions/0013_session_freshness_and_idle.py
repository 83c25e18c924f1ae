"""login sessions: when they last authenticated and when they were last used

`authenticated_at` is when the session last proved every factor of its user (the completed
login or a re-authentication); changing the password or a second factor needs it to be
recent. `last_seen_at` is the last activity; a session ends `session_idle_minutes` after it.
Sessions open during the upgrade count from their creation on both: one that has been
open longer than the idle timeout ends, and none counts as freshly authenticated.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authenticated_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_seen_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True))
    op.execute("UPDATE login_sessions SET last_seen_at = created_at, "
               "authenticated_at = CASE WHEN second_factor_done THEN created_at END")
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.alter_column('last_seen_at', existing_type=leitstand.db.base.UtcDateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_column('last_seen_at')
        batch_op.drop_column('authenticated_at')
