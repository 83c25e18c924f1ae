"""throttle: counters per kind and key (account and client address, serial and tenant)

`login_throttles` held one row per account (or claim serial) with a lockout time. The
throttle now counts per (account, client), per client and per account, and password
reset requests too, and never locks (see leitstand.auth.throttle). The counters are
short-lived, so the table is made anew instead of converted: at worst a client that was
in back-off during the upgrade may try again a little earlier.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('login_throttles')
    op.create_table('login_throttles',
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('window_started_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('alerted_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_throttles')),
    sa.UniqueConstraint('kind', 'key', name=op.f('uq_login_throttles_kind'))
    )
    op.create_index(op.f('ix_login_throttles_last_attempt_at'), 'login_throttles', ['last_attempt_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_login_throttles_last_attempt_at'), table_name='login_throttles')
    op.drop_table('login_throttles')
    op.create_table('login_throttles',
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('first_failure_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_failure_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('locked_until', leitstand.db.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_throttles')),
    sa.UniqueConstraint('email', name=op.f('uq_login_throttles_email'))
    )
