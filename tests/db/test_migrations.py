"""Migrations: they run up, down to nothing and up again, and leave exactly the models' schema.

Each test gets a fresh, empty database of the backend under test (the shared test
database is already migrated, so it cannot show a migration that fails from scratch).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from leitstand.db.migrate import include_object
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from leitstand.db import migrate
from leitstand.db.engine import make_engine
from leitstand.db.models import Base


@pytest.fixture
def fresh_database_url(backend: str, database_url: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    # A scratch database on the same server as the test database, dropped afterwards.
    server = make_url(database_url).set(drivername="postgresql+psycopg")
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"leitstand_migrate_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def schema_differences(url: str) -> list:  # type: ignore[type-arg]
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": include_object}
            )
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(fresh_database_url):
    model_tables = set(Base.metadata.tables)

    migrate.upgrade(fresh_database_url)
    assert table_names(fresh_database_url) >= model_tables
    head = current_revision(fresh_database_url)
    assert head is not None

    migrate.downgrade(fresh_database_url, "base")
    assert table_names(fresh_database_url) & model_tables == set()
    assert current_revision(fresh_database_url) is None

    migrate.upgrade(fresh_database_url)
    assert table_names(fresh_database_url) >= model_tables
    assert current_revision(fresh_database_url) == head


def test_upgrade_is_idempotent(fresh_database_url):
    migrate.upgrade(fresh_database_url)
    migrate.upgrade(fresh_database_url)

    assert schema_differences(fresh_database_url) == []


def test_the_migrated_schema_matches_the_models(fresh_database_url):
    migrate.upgrade(fresh_database_url)

    differences = schema_differences(fresh_database_url)

    assert differences == [], "\n".join(map(str, differences))


def test_the_schema_matches_after_a_round_trip(fresh_database_url):
    migrate.upgrade(fresh_database_url)
    migrate.downgrade(fresh_database_url, "base")
    # The comparison is not blind: with the tables gone it reports every one of them.
    missing = {diff[1].name for diff in schema_differences(fresh_database_url) if diff[0] == "add_table"}
    assert missing == set(Base.metadata.tables)
    migrate.upgrade(fresh_database_url)

    assert schema_differences(fresh_database_url) == []
