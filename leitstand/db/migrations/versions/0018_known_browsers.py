"""known browsers: a login from a browser the account was never used in is mailed (ASVS 2.2.3)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('known_browsers',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=False),
    sa.Column('last_seen_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', leitstand.db.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_known_browsers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_known_browsers')),
    sa.UniqueConstraint('user_id', 'token_hash', name=op.f('uq_known_browsers_user_id'))
    )
    op.create_index(op.f('ix_known_browsers_user_id'), 'known_browsers', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_known_browsers_user_id'), table_name='known_browsers')
    op.drop_table('known_browsers')
