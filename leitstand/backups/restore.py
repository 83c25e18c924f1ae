"""Restoring a backup over the configured installation.

The platform must be stopped first (all roles: API, ingest, scheduler). The archive
is verified completely (see leitstand.backups.verify) before anything is touched; a
truncated, tampered or otherwise failing archive is refused and nothing changes.
Then, in this order:
1. the database: SQLite is overwritten by the online backup API in one write
   transaction; on PostgreSQL, one psql transaction drops and recreates the schema
   `public`, loads the dump (pg_restore's SQL) into it and commits only if every
   table then holds the manifest's row count;
2. the document store: data_dir/attachments is replaced as a whole (a rename of a
   folder unpacked beside it), and the kept secrets in the archive are written back.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from leitstand.backups import database
from leitstand.backups.archive import FILES_PREFIX, STORED_DIRECTORIES, STORED_FILES, Manifest
from leitstand.backups.verify import VerifyReport, verified
from leitstand.config import Settings


class RestoreRefused(Exception):
    """The archive failed verification; nothing was changed."""

    def __init__(self, report: VerifyReport) -> None:
        reasons = "; ".join(f"{check.name}: {check.detail}" for check in report.failures)
        super().__init__(f"{report.archive.name} is refused, nothing was changed: {reasons}")
        self.report = report


@dataclass
class RestoreResult:
    manifest: Manifest
    report: VerifyReport
    files: int


def _replace_database(settings: Settings, manifest: Manifest, unpacked: Path) -> None:
    url = settings.effective_database_url
    backend = database.backend_of(url)
    if backend != manifest.backend:
        raise database.BackupError(f"the backup is of a {manifest.backend} database, the configured one is "
                                   f"{backend}; to move between backends use `leitstand export` and `import`")
    copy = unpacked / manifest.database_member
    if backend == "sqlite":
        database.replace_sqlite(url, copy)
        return
    database.replace_postgresql(url, copy, manifest.tables, manifest.alembic_revision)


def _replace_directory(live: Path, staged: Path) -> None:
    """Swap `staged` in for `live` by renames on one disk; the old folder is removed last."""
    old = live.with_name(f".{live.name}-replaced-{secrets.token_hex(4)}")
    if live.exists():
        os.replace(live, old)
    os.replace(staged, live)
    shutil.rmtree(old, ignore_errors=True)


def _replace_files(settings: Settings, unpacked: Path) -> int:
    data_dir = settings.data_dir
    restored = 0
    for directory in STORED_DIRECTORIES:
        staged = unpacked / FILES_PREFIX / directory
        if not staged.is_dir():
            staged.mkdir(parents=True)  # the backup had none: the restored store is empty
        restored += sum(1 for path in staged.rglob("*") if path.is_file())
        _replace_directory(data_dir / directory, staged)
    for name in STORED_FILES:
        staged = unpacked / FILES_PREFIX / name
        if staged.is_file():
            staged.chmod(0o600)
            os.replace(staged, data_dir / name)
            restored += 1
    return restored


def restore_archive(settings: Settings, archive: Path) -> RestoreResult:
    """Verify `archive`, then replace the configured database and the document store with it.

    Raises RestoreRefused (nothing changed) if verification fails, and
    database.BackupError if the database could not be replaced.
    """
    with verified(settings, archive) as (report, unpacked):
        if not report.ok or report.manifest is None:
            raise RestoreRefused(report)
        _replace_database(settings, report.manifest, unpacked)
        files = _replace_files(settings, unpacked)
        return RestoreResult(report.manifest, report, files)
