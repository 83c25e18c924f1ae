"""maintenance: maintenance plans and the inspection book

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import leitstand.db.base

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
