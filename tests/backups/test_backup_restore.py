"""Backups on both backends: back up, change and delete, restore, and find exactly the backup's state."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from leitstand.audit.models import AuditEntry
from leitstand.backups import database
from leitstand.backups.archive import checksum_path
from leitstand.backups.backup import create_backup, list_backups
from leitstand.backups.restore import RestoreRefused, restore_archive
from leitstand.backups.verify import verify_archive
from leitstand.cli import app as cli_app
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.devices.models import Device
from leitstand.maintenance.models import InspectionAttachment, InspectionEntry
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session
from tests.helpers.world import World

NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

pytestmark = pytest.mark.usefixtures("backup_tools")


def live_counts(settings: Settings) -> dict[str, int]:
    url = settings.effective_database_url
    if database.backend_of(url) == "sqlite":
        tables, _revision, _integrity = database.inspect_sqlite_copy(database.sqlite_path(url))
        return tables
    return database.inspect_postgresql(url)[0]


def upload_document(world: World) -> tuple[int, int, Path]:
    """An inspection entry with a PNG on Alpha's barrier: (entry id, attachment id, file)."""
    api = world.as_user("alpha_admin")
    entry = api.post(f"/api/v1/maintenance/devices/{world.alpha.barrier.id}/entries", json={
        "performed_on": "2026-06-14", "technician_name": "M. Weber", "findings": "Spring replaced."})
    assert entry.status_code == 201, entry.text
    uploaded = api.post(f"/api/v1/maintenance/entries/{entry.json()['id']}/attachments",
                        files={"file": ("photo.png", PNG)})
    assert uploaded.status_code == 201, uploaded.text
    stored = world.app.state.settings.data_dir / "attachments"
    (path,) = [path for path in stored.rglob("*") if path.is_file()]
    return entry.json()["id"], uploaded.json()["id"], path


def invoke(*args: str, settings: Settings):  # type: ignore[no-untyped-def]
    environment = {"LEITSTAND_DATABASE_URL": settings.database_url, "LEITSTAND_CONFIG": None,
                   "LEITSTAND_BACKUP_DIR": None, "COLUMNS": "200", "NO_COLOR": "1"}
    return CliRunner().invoke(cli_app, [*args, "--data-dir", str(settings.data_dir)], env=environment)


def test_restore_brings_back_exactly_the_state_of_the_backup(world: World, settings: Settings, session_factory,
                                                             monkeypatch) -> None:
    clock.freeze(NOW)
    entry_id, attachment_id, document = upload_document(world)
    barrier_id = world.alpha.barrier.id
    commands: list[list[str]] = []
    real_run = database._run
    monkeypatch.setattr(database, "_run", lambda command, env, what: (commands.append(command),
                                                                         real_run(command, env, what))[1])

    backup = create_backup(settings)
    counts_at_backup = live_counts(settings)
    assert backup.manifest.tables == counts_at_backup
    assert backup.manifest.tables["inspection_attachments"] == 1

    # Change, delete and add after the backup: a renamed device, a deleted entry with its document, a new tenant.
    api = world.as_user("alpha_admin")
    assert api.delete(f"/api/v1/maintenance/attachments/{attachment_id}").status_code == 204
    assert api.delete(f"/api/v1/maintenance/entries/{entry_id}").status_code == 204
    assert not document.exists()
    with system_session(session_factory, reason="test: change after the backup") as db:
        db.get(Device, barrier_id).name = "renamed after the backup"
        db.add(Tenant(name="Born after the backup", parent_id=world.root.id, path=f"{world.root.path}zz/",
                      kind=world.alpha.customer.kind))
        db.commit()
    assert live_counts(settings) != counts_at_backup
    world.db.rollback()  # the platform is "stopped": no open transaction holds a lock

    result = restore_archive(settings, backup.archive)

    assert result.report.ok, result.report.checks
    assert live_counts(settings) == counts_at_backup
    with system_session(session_factory, reason="test: check the restore") as db:
        assert db.get(Device, barrier_id).name == world.alpha.barrier.name
        assert db.get(InspectionEntry, entry_id).findings == "Spring replaced."
        attachment = db.get(InspectionAttachment, attachment_id)
        assert db.scalar(select(Tenant.id).where(Tenant.name == "Born after the backup")) is None
    assert document.read_bytes() == PNG
    assert hashlib.sha256(document.read_bytes()).hexdigest() == attachment.sha256
    # The API token made after the backup is gone with everything else of that time: a new one.
    download = world.as_user("alpha_admin").get(f"/api/v1/maintenance/attachments/{attachment_id}")
    assert download.status_code == 200 and download.content == PNG
    # The password never reaches a command line.
    password = make_url(settings.effective_database_url).password
    assert all(password not in " ".join(command) for command in commands) if password else True
    assert not list(settings.data_dir.glob(".backup-scratch-*"))


def test_verify_reports_ok_for_a_good_archive(world: World, settings: Settings) -> None:
    upload_document(world)

    made = invoke("backup", settings=settings)
    assert made.exit_code == 0, made.output
    (archive,) = list_backups(settings.backups_path)
    verified = invoke("backup", "verify", settings=settings)  # the newest by default

    assert verified.exit_code == 0, verified.output
    assert f"{archive.name} is OK" in verified.output
    for check in ("archive integrity", "restore into scratch database", "alembic revision", "row counts",
                  "sample query"):
        assert check in verified.output
    report = verify_archive(settings, archive)
    assert report.ok and report.manifest is not None
    assert report.manifest.alembic_revision and report.manifest.backend == ("sqlite" if settings.is_sqlite
                                                                            else "postgresql")
    assert {member.path.split("/")[0] for member in report.manifest.files} == {"database", "files"}


def test_backup_into_another_folder_with_out(session_factory, settings: Settings, tmp_path: Path) -> None:
    result = invoke("backup", "--out", str(tmp_path / "elsewhere"), settings=settings)

    assert result.exit_code == 0, result.output
    assert len(list_backups(tmp_path / "elsewhere")) == 1
    assert list_backups(settings.backups_path) == []


# --- bad input: refused before anything is written ------------------------------------------


def _flip_byte(archive: Path) -> None:
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))


def _truncate(archive: Path) -> None:
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])


def _recompute_checksum(archive: Path) -> None:
    checksum_path(archive).write_text(f"{hashlib.sha256(archive.read_bytes()).hexdigest()}  {archive.name}\n")


def _change_member_and_fix_checksum(archive: Path) -> None:
    """A forger rewrites a member (one byte of the document flipped) and the whole-file checksum."""
    import io
    import tarfile

    with tarfile.open(archive, "r:gz") as source:
        members = [(info, source.extractfile(info).read()) for info in source.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(archive, "w:gz") as target:
        for info, data in members:
            if info.name.startswith("files/attachments/"):
                data = data[:-1] + bytes([data[-1] ^ 0x01])
            target.addfile(info, io.BytesIO(data))
    _recompute_checksum(archive)


TAMPERING = {
    "one byte flipped": (_flip_byte, "does not match its checksum file"),
    "truncated": (_truncate, "does not match its checksum file"),
    "truncated, checksum recomputed": (lambda path: (_truncate(path), _recompute_checksum(path)),
                                       "truncated or damaged"),
    "wrong checksum file": (lambda path: checksum_path(path).write_text("0" * 64 + f"  {path.name}\n"),
                            "does not match its checksum file"),
    "checksum file missing": (lambda path: checksum_path(path).unlink(), "checksum file"),
    "member changed, checksum recomputed": (_change_member_and_fix_checksum, "does not match the manifest"),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_a_damaged_archive_is_refused_and_nothing_changes(world: World, settings: Settings, session_factory,
                                                          tampering: str) -> None:
    _entry_id, _attachment_id, document = upload_document(world)
    archive = create_backup(settings).archive
    with system_session(session_factory, reason="test: change after the backup") as db:
        db.get(Device, world.alpha.barrier.id).name = "changed after the backup"
        db.commit()
    document.write_bytes(PNG + b"changed")
    counts_before = live_counts(settings)
    damage, message = TAMPERING[tampering]
    damage(archive)
    world.db.rollback()

    with pytest.raises(RestoreRefused, match=message):
        restore_archive(settings, archive)
    result = invoke("restore", str(archive), "--yes", settings=settings)
    verified = invoke("backup", "verify", str(archive), settings=settings)

    assert result.exit_code == 1 and "nothing was changed" in result.output, result.output
    assert verified.exit_code == 1 and "FAILED" in verified.output
    assert live_counts(settings) == counts_before
    with system_session(session_factory, reason="test: nothing restored") as db:
        assert db.get(Device, world.alpha.barrier.id).name == "changed after the backup"
    assert document.read_bytes() == PNG + b"changed"
    assert not list(settings.data_dir.glob(".backup-scratch-*"))


def test_restore_of_a_missing_archive_is_a_clear_error(session_factory, settings: Settings, tmp_path: Path) -> None:
    result = invoke("restore", str(tmp_path / "nothing.tar.gz"), "--yes", settings=settings)

    assert result.exit_code == 1
    assert "no archive at" in result.output


# --- retention and the schedule ---------------------------------------------------------------


def test_retention_keeps_the_newest_n_and_leaves_other_files_alone(session_factory, settings: Settings) -> None:
    clock.freeze(NOW)
    settings.backup_keep = 3
    settings.backups_path.mkdir(parents=True)
    foreign = [settings.backups_path / "notes.txt", settings.backups_path / "leitstand-backup-by-hand.tar.gz"]
    for path in foreign:
        path.write_text("not made by leitstand backup")
    made = []
    for _ in range(5):
        made.append(create_backup(settings).archive)
        clock.advance(timedelta(days=1))

    kept = list_backups(settings.backups_path)

    assert kept == made[-3:]
    assert all(checksum_path(path).is_file() for path in kept)
    assert not any(path.exists() or checksum_path(path).exists() for path in made[:2])
    assert all(path.exists() for path in foreign)


def test_two_backups_in_one_second_get_two_names(session_factory, settings: Settings) -> None:
    clock.freeze(NOW)

    first, second = create_backup(settings).archive, create_backup(settings).archive

    assert first != second and list_backups(settings.backups_path) == [first, second]


def test_the_scheduler_makes_a_backup_only_when_due(session_factory, settings: Settings) -> None:
    from leitstand.scheduler.loop import JOBS, Scheduler

    clock.freeze(NOW)
    scheduler = Scheduler(session_factory, publish=lambda *_: None, settings=settings,
                          jobs=tuple(job for job in JOBS if job.name == "backup"))

    assert scheduler.run_due()["backup"].startswith("written")
    clock.advance(timedelta(days=6, hours=22))
    assert scheduler.run_due()["backup"] == "not due"
    clock.advance(timedelta(hours=2))
    assert scheduler.run_due()["backup"].startswith("written")
    clock.advance(timedelta(minutes=30))
    assert scheduler.run_due() == {}  # the job itself runs hourly

    assert len(list_backups(settings.backups_path)) == 2
    with system_session(session_factory, reason="test: audit of backups") as db:
        entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "backup.create")).all()
    assert [(entry.actor, entry.outcome) for entry in entries] == [("system", "success")] * 2


def test_the_scheduler_never_backs_up_a_database_its_settings_do_not_name(session_factory, settings: Settings,
                                                                          tmp_path: Path) -> None:
    from leitstand.scheduler.loop import JOBS, Scheduler

    other = Settings(data_dir=tmp_path / "other", secret_key="x")
    scheduler = Scheduler(session_factory, publish=lambda *_: None, settings=other,
                          jobs=tuple(job for job in JOBS if job.name == "backup"))

    assert scheduler.run_due()["backup"].startswith("skipped")
    assert list_backups(other.backups_path) == [] and list_backups(settings.backups_path) == []


@pytest.mark.parametrize("fake_pg_restore", ["/bin/echo", "/bin/false"], ids=["garbage SQL", "pg_restore fails"])
def test_a_failing_postgresql_restore_leaves_the_database_as_it_was(world: World, settings: Settings, backend: str,
                                                                    session_factory, monkeypatch,
                                                                    fake_pg_restore: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite's restore is one write transaction of the backup API")
    _entry_id, _attachment_id, document = upload_document(world)
    archive = create_backup(settings).archive
    with system_session(session_factory, reason="test: change after the backup") as db:
        db.get(Device, world.alpha.barrier.id).name = "changed after the backup"
        db.commit()
    counts_before = live_counts(settings)
    real_find_tool, real_replace = database.find_tool, database.replace_postgresql

    def replace_with_broken_dump(url: str, dump: Path, *expected) -> None:  # type: ignore[no-untyped-def]
        # After DROP SCHEMA has run, the dump's SQL is garbage or pg_restore fails.
        monkeypatch.setattr(database, "find_tool", lambda name: fake_pg_restore if name == "pg_restore"
                            else real_find_tool(name))
        real_replace(url, dump, *expected)

    monkeypatch.setattr(database, "replace_postgresql", replace_with_broken_dump)
    world.db.rollback()

    with pytest.raises(database.BackupError, match="the database is unchanged"):
        restore_archive(settings, archive)

    assert live_counts(settings) == counts_before
    with system_session(session_factory, reason="test: nothing restored") as db:
        assert db.get(Device, world.alpha.barrier.id).name == "changed after the backup"
    assert document.read_bytes() == PNG


def test_postgresql_tools_get_the_connection_from_the_environment(monkeypatch) -> None:
    environment = database.pg_environment("postgresql+psycopg://leit:s3cret@db.example:5433/leitstand?sslmode=require")

    assert (environment["PGHOST"], environment["PGPORT"], environment["PGUSER"], environment["PGPASSWORD"],
            environment["PGDATABASE"], environment["PGSSLMODE"]) == (
        "db.example", "5433", "leit", "s3cret", "leitstand", "require")
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    with pytest.raises(database.BackupError, match="pg_dump was not found.*postgresql-client"):
        database.find_tool("pg_dump")
