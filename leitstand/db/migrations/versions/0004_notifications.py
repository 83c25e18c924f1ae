"""notifications: notification routing, subscriptions, webhooks and deliveries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
