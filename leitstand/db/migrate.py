"""Schema migrations with Alembic, run programmatically (`leitstand db upgrade`, and at start)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


# Monthly partitions of the telemetry table are made at run time, not by migrations.
TELEMETRY_PARTITION = re.compile(r"^telemetry_(default|\d{4}_\d{2})$")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """For Alembic's comparison: leave out objects the application creates itself."""
    return not (type_ == "table" and reflected and compare_to is None and name and TELEMETRY_PARTITION.match(name))


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
