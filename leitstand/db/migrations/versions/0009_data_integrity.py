"""data integrity: NOT NULL and CHECK constraints that match the API's models, repairing rows first

Every column the API models as not nullable is NOT NULL already. What slipped through are JSON
columns: SQLAlchemy writes Python None into them as the JSON value null, which NOT NULL lets
pass (a PATCH with "labels": null made every device list of the tenant fail). Each JSON column
now has a CHECK on the kind of value it holds. Rows that break it are repaired first: a list
column that holds anything but a list becomes [] (empty: "none" or "any", as for a new row),
an object column {} (no details, no parameters), and license_changes.before (null for the
"created" entry) null.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from leitstand.db.base import json_kind

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# (table, column, the kinds it may hold, what a row that holds something else gets), as of this revision.
JSON_COLUMNS: list[tuple[str, str, tuple[str, ...], str]] = [
    *[('notification_rules', column, ('array',), '[]') for column in (
        'severities', 'site_ids', 'device_type_keys', 'user_ids', 'roles', 'channels', 'webhook_ids',
        'escalation_user_ids', 'escalation_roles')],
    ('api_tokens', 'scopes', ('array',), '[]'),
    ('devices', 'labels', ('array',), '[]'),
    ('maintenance_plans', 'checklist', ('array',), '[]'),
    ('inspection_entries', 'checklist', ('array',), '[]'),
    ('inspection_entries', 'completed_plan_ids', ('array',), '[]'),
    ('audit_log', 'changes', ('object',), '{}'),
    ('device_types', 'spec', ('object',), '{}'),
    ('export_jobs', 'counts', ('object',), '{}'),
    ('notification_deliveries', 'payload', ('object',), '{}'),
    ('notification_escalations', 'alarm', ('object',), '{}'),
    ('alarm_rules', 'condition', ('object',), '{}'),
    ('alarms', 'details', ('object',), '{}'),
    ('alarms', 'steps', ('object',), '{}'),
    ('commands', 'parameters', ('object',), '{}'),
    ('device_events', 'data', ('object',), '{}'),
    ('device_states', 'attributes', ('object',), '{}'),
    ('device_states', 'latest', ('object',), '{}'),
    ('license_changes', 'before', ('object', 'null'), 'null'),
    ('license_changes', 'after', ('object',), '{}'),
    ('ticket_events', 'details', ('object',), '{}'),
]


def _holds(column: str, kinds: tuple[str, ...]) -> sa.ColumnElement[bool]:
    return json_kind(sa.column(column)).in_(kinds)


def _name(table: str, column: str, kinds: tuple[str, ...]) -> str:
    return f"ck_{table}_{column}_is_{'_or_'.join(kinds)}"


def _tables() -> dict[str, list[tuple[str, tuple[str, ...], str]]]:
    tables: dict[str, list[tuple[str, tuple[str, ...], str]]] = {}
    for table, column, kinds, repair in JSON_COLUMNS:
        tables.setdefault(table, []).append((column, kinds, repair))
    return tables


def upgrade() -> None:
    for table, columns in _tables().items():
        for column, kinds, repair in columns:
            target = sa.table(table, sa.column(column))
            op.execute(target.update()
                       .where(sa.or_(sa.column(column).is_(None), sa.not_(_holds(column, kinds))))
                       .values({column: sa.text(f"'{repair}'")}))
        # One rebuild per table on SQLite (batch mode); plain ALTER TABLE on PostgreSQL.
        with op.batch_alter_table(table) as batch_op:
            for column, kinds, _ in columns:
                batch_op.create_check_constraint(op.f(_name(table, column, kinds)), _holds(column, kinds))


def downgrade() -> None:
    for table, columns in _tables().items():
        with op.batch_alter_table(table) as batch_op:
            for column, kinds, _ in columns:
                batch_op.drop_constraint(op.f(_name(table, column, kinds)), type_='check')
