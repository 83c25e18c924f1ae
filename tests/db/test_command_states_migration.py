"""Migration 0015: commands stored as succeeded or timed out come out confirmed or expired,
and the database refuses a status outside the seven; downgrading gives the old names back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from leitstand.clock import clock
from leitstand.db import migrate
from leitstand.db.engine import make_engine
from tests.db.raw_rows import insert_barrier_type, insert_device, insert_tenant
from tests.db.test_migrations import fresh_database_url  # noqa: F401 - a scratch database per test

OLD_STATUSES = ("requested", "sent", "delivered", "succeeded", "failed", "timed_out")


def _insert_command(connection, public_id: str, status: str, now) -> None:  # type: ignore[no-untyped-def]
    connection.execute(text(
        "INSERT INTO commands (public_id, device_id, tenant_id, name, parameters, idempotency_key, status,"
        " requested_at, expires_at, detail) VALUES (:id, 1, 1, 'open', '{}', :id, :status, :now, :expires, '')"),
        {"id": public_id, "status": status, "now": now, "expires": now + timedelta(seconds=30)})


def _statuses(connection) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(connection.execute(text("SELECT public_id, status FROM commands")).all())


def test_stored_commands_take_the_new_status_names(fresh_database_url: str) -> None:
    migrate.upgrade(fresh_database_url, "0013")
    engine = make_engine(fresh_database_url)
    now = clock.now().replace(tzinfo=None)
    try:
        with engine.begin() as connection:
            insert_tenant(connection, now, name="Leitstand")
            insert_barrier_type(connection)
            insert_device(connection, now)
            for status in OLD_STATUSES:
                _insert_command(connection, f"old-{status}", status, now)

        migrate.upgrade(fresh_database_url, "0015")

        with engine.connect() as connection:
            assert _statuses(connection) == {
                "old-requested": "requested", "old-sent": "sent", "old-delivered": "delivered",
                "old-succeeded": "confirmed", "old-failed": "failed", "old-timed_out": "expired"}
            assert connection.execute(text("SELECT count(*) FROM commands WHERE queued_at IS NOT NULL")).scalar() == 0
        with pytest.raises(IntegrityError), engine.begin() as connection:
            _insert_command(connection, "new-succeeded", "succeeded", now)  # the old name is gone for good
        with engine.begin() as connection:
            _insert_command(connection, "new-queued", "queued", now)
            connection.execute(text("UPDATE commands SET queued_at = :now WHERE public_id = 'new-queued'"), {"now": now})

        migrate.downgrade(fresh_database_url, "0013")

        with engine.connect() as connection:
            statuses = _statuses(connection)
            assert {key: statuses[key] for key in ("old-succeeded", "old-timed_out", "new-queued")} == {
                "old-succeeded": "succeeded", "old-timed_out": "timed_out", "new-queued": "sent"}
            sent_at = connection.execute(text("SELECT sent_at FROM commands WHERE public_id = 'new-queued'")).scalar()
            assert sent_at is not None  # a queued command was with the transport: sent, in the old words
    finally:
        engine.dispose()
