"""Alembic environment: one code path for SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context

from leitstand.db.engine import make_engine
from leitstand.db.migrate import include_object
from leitstand.db.models import Base

config = context.config


def run_migrations() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table by copy, drop and rename. With foreign keys on, dropping a
            # table deletes its rows first and cascades into every table that references it. The
            # pragma only takes effect outside a transaction, hence the commit before Alembic starts.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
            render_as_batch=sqlite,
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
