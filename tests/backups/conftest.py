"""Backup fixtures: the PostgreSQL client programs are a required service on that backend."""

from __future__ import annotations

import pytest

from leitstand.backups.database import BackupError, find_tool
from tests.conftest import service_unavailable


@pytest.fixture
def backup_tools(backend: str) -> None:
    """pg_dump, pg_restore and psql on PostgreSQL (Debian's postgresql-client); nothing on SQLite."""
    if backend != "postgresql":
        return
    for tool in ("pg_dump", "pg_restore", "psql"):
        try:
            find_tool(tool)
        except BackupError as error:
            service_unavailable(str(error))
