"""Making a backup: a consistent database copy plus the document store, in one checked archive.

A backup is the whole installation: every tenant, the schema's revision, the files
under data_dir that the database refers to (inspection-book attachments) and the
secrets Leitstand generated there (without secret.key, stored second factors could
not be decrypted after a restore). It is not a tenant export: see leitstand.dataexport.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from leitstand import __version__
from leitstand.backups import database
from leitstand.backups.archive import (
    DATABASE_MEMBERS,
    FILES_PREFIX,
    NAME_PATTERN,
    STORED_DIRECTORIES,
    STORED_FILES,
    Manifest,
    checksum_path,
    describe,
    write_archive,
)
from leitstand.clock import clock
from leitstand.config import Settings


@dataclass
class BackupResult:
    archive: Path
    manifest: Manifest
    deleted: list[Path] = field(default_factory=list)


@contextmanager
def scratch_dir(settings: Settings) -> Iterator[Path]:
    """A temporary folder on the data disk (database copies can be large; /tmp may be small)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".backup-scratch-", dir=settings.data_dir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def stored_files(settings: Settings) -> list[tuple[str, Path]]:
    """(archive name, path) of every file under data_dir that a backup holds."""
    found: list[tuple[str, Path]] = []
    for directory in STORED_DIRECTORIES:
        root = settings.data_dir / directory
        if root.is_dir():
            found += [(FILES_PREFIX + path.relative_to(settings.data_dir).as_posix(), path)
                      for path in sorted(root.rglob("*")) if path.is_file() and not path.is_symlink()]
    for name in STORED_FILES:
        path = settings.data_dir / name
        if path.is_file():
            found.append((FILES_PREFIX + name, path))
    return found


def archive_time(path: Path) -> datetime | None:
    """When a backup was made, read from its name; None for files this tool did not make."""
    match = NAME_PATTERN.match(path.name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def list_backups(directory: Path) -> list[Path]:
    """The backups in a folder, oldest first."""
    if not directory.is_dir():
        return []

    def order(path: Path) -> tuple[str, int]:
        match = NAME_PATTERN.match(path.name)
        assert match is not None
        return match.group(1), int(match.group(2) or 0)

    return sorted((path for path in directory.iterdir() if NAME_PATTERN.match(path.name) and path.is_file()), key=order)


def _new_archive_path(directory: Path, at: datetime) -> Path:
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    candidate, number = directory / f"leitstand-backup-{stamp}.tar.gz", 1
    while candidate.exists():
        number += 1
        candidate = directory / f"leitstand-backup-{stamp}-{number}.tar.gz"
    return candidate


def apply_retention(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups (with their checksum files). Other files are left alone."""
    deleted = []
    for archive in list_backups(directory)[:-keep] if keep > 0 else []:
        archive.unlink(missing_ok=True)
        checksum_path(archive).unlink(missing_ok=True)
        deleted.append(archive)
    return deleted


def create_backup(settings: Settings, out_dir: Path | None = None) -> BackupResult:
    """Back up the configured database and the document store into one archive.

    Into settings.backups_path, then keep only the newest settings.backup_keep there; with
    out_dir, one archive into that folder, which retention leaves alone.
    """
    url = settings.effective_database_url
    backend = database.backend_of(url)
    directory = (out_dir or settings.backups_path).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    created_at = clock.now()
    with scratch_dir(settings) as scratch:
        member_name = DATABASE_MEMBERS[backend]
        snapshot = database.dump(url, scratch / member_name)
        # The documents are read right after the database snapshot; both describe (almost) one moment.
        members = [(member_name, snapshot.path), *stored_files(settings)]
        manifest = Manifest(
            created_at=created_at.isoformat(), backend=backend, leitstand_version=__version__,
            alembic_revision=snapshot.alembic_revision, tables=snapshot.tables,
            files=[describe(path, name) for name, path in members],
        )
        archive = write_archive(_new_archive_path(directory, created_at), manifest, members)
    deleted = apply_retention(directory, settings.backup_keep) if out_dir is None else []
    return BackupResult(archive, manifest, deleted)
