"""Verifying a backup: is it intact, and does it restore into a working database?

In this order, stopping at the first failure of the first step:
1. the archive against its checksum file, then every file against the manifest;
2. the database copy restored into a scratch database (a temporary SQLite file, or a
   throw-away PostgreSQL database on the configured server, dropped afterwards);
3. the restored database checked: its Alembic revision and the row count of every
   table equal the manifest's, one row of every table can be read, and (if the backup
   is at this Leitstand's schema revision) every model's query runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from leitstand.backups import database
from leitstand.backups.archive import ArchiveRefused, Manifest, open_checked
from leitstand.backups.backup import scratch_dir
from leitstand.config import Settings


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class VerifyReport:
    archive: Path
    manifest: Manifest | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok


def code_head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from leitstand.db.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _compare_counts(report: VerifyReport, expected: dict[str, int], found: dict[str, int]) -> None:
    differences = [f"{name}: {expected.get(name, 'absent')} in the manifest, {found.get(name, 'absent')} restored"
                   for name in sorted(set(expected) | set(found)) if expected.get(name) != found.get(name)]
    report.add("row counts", not differences,
               "; ".join(differences[:10]) if differences
               else f"{len(expected)} tables, {sum(expected.values())} rows, as in the manifest")


def _sample_queries(report: VerifyReport, url: str, manifest: Manifest) -> None:
    """Read one row of every table; and run every model's query if the schema is this Leitstand's."""
    from leitstand.db.engine import make_engine
    from leitstand.db.models import Base

    engine = make_engine(url) if url.startswith("sqlite") else create_engine(database._pg_url(url))
    try:
        with engine.connect() as connection:
            for name in manifest.tables:
                connection.execute(text(f"SELECT * FROM {database.quoted(name)} LIMIT 1")).fetchall()
            report.add("sample query", True, f"read a row of each of {len(manifest.tables)} tables")
            head = code_head_revision()
            if manifest.alembic_revision == head:
                for table in Base.metadata.sorted_tables:
                    connection.execute(select(table).limit(1)).fetchall()
                report.add("schema", True, f"every model of this Leitstand reads its table (revision {head})")
            else:
                report.add("schema", True, f"backup at revision {manifest.alembic_revision}, this Leitstand at "
                                           f"{head}: after a restore, `leitstand db upgrade` (or serve) migrates it")
    except Exception as error:  # noqa: BLE001 - any failure is the finding
        report.add("sample query", False, f"{type(error).__name__}: {error}")
    finally:
        engine.dispose()


def _check_sqlite(report: VerifyReport, manifest: Manifest, copy: Path) -> None:
    # The unpacked copy is itself the scratch database: a temporary file, deleted with the scratch folder.
    try:
        tables, revision, integrity = database.inspect_sqlite_copy(copy)
    except Exception as error:  # noqa: BLE001
        report.add("restore into scratch database", False, f"the SQLite copy does not open: {error}")
        return
    report.add("restore into scratch database", True, f"SQLite copy at {copy.name}")
    report.add("SQLite integrity", integrity == "ok", integrity)
    report.add("alembic revision", revision == manifest.alembic_revision,
               f"{revision} (manifest: {manifest.alembic_revision})")
    _compare_counts(report, manifest.tables, tables)
    _sample_queries(report, f"sqlite:///{copy}", manifest)


def _check_postgresql(report: VerifyReport, settings: Settings, manifest: Manifest, dump: Path) -> None:
    url = settings.effective_database_url
    if database.backend_of(url) != "postgresql":
        report.add("restore into scratch database", False,
                   "a PostgreSQL backup needs a configured PostgreSQL server to restore into")
        return
    try:
        with database.scratch_postgresql(url) as scratch_url:
            database.load_postgresql(scratch_url, dump)
            report.add("restore into scratch database", True,
                       f"pg_restore into the throw-away database {make_url(scratch_url).database}")
            tables, revision = database.inspect_postgresql(scratch_url)
            report.add("alembic revision", revision == manifest.alembic_revision,
                       f"{revision} (manifest: {manifest.alembic_revision})")
            _compare_counts(report, manifest.tables, tables)
            _sample_queries(report, scratch_url, manifest)
    except database.BackupError as error:
        report.add("restore into scratch database", False, str(error))


def verify_into(settings: Settings, archive: Path, scratch: Path) -> VerifyReport:
    """Verify `archive`, leaving its checked contents unpacked in `scratch` (for a restore to use)."""
    report = VerifyReport(archive)
    try:
        report.manifest = open_checked(archive, scratch)
    except ArchiveRefused as error:
        report.add("archive integrity", False, str(error))
        return report
    manifest = report.manifest
    report.add("archive integrity", True,
               f"the archive matches its checksum file; all {len(manifest.files)} files match the manifest")
    copy = scratch / manifest.database_member
    if manifest.backend == "sqlite":
        _check_sqlite(report, manifest, copy)
    else:
        _check_postgresql(report, settings, manifest, copy)
    return report


@contextmanager
def verified(settings: Settings, archive: Path) -> Iterator[tuple[VerifyReport, Path]]:
    """Verify `archive`; yield the report and the folder it was unpacked into (removed afterwards)."""
    with scratch_dir(settings) as scratch:
        yield verify_into(settings, archive, scratch), scratch


def verify_archive(settings: Settings, archive: Path) -> VerifyReport:
    with verified(settings, archive) as (report, _unpacked):
        return report
