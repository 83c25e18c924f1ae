"""A truncated or tampered export is refused with a clear error, and nothing is written."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leitstand.dataexport.export import export_tenant
from leitstand.dataexport.importer import ExportInvalid, ImportRefused, import_export
from leitstand.db.models import Base
from leitstand.tenancy.scope import system_session
from tests.dataexport.conftest import Instance, seed_tenant


@pytest.fixture
def good_export(sqlite_instance: Instance, tmp_path: Path) -> Path:
    seeded = seed_tenant(sqlite_instance)
    out = tmp_path / "good.zip"
    with system_session(sqlite_instance.factory, reason="test export") as db:
        export_tenant(db, sqlite_instance.settings, seeded.partner_id, out)
    return out


def row_counts(instance: Instance) -> dict[str, int]:
    with system_session(instance.factory, reason="test counts") as db:
        return {table.name: db.scalar(select(func.count()).select_from(table)) or 0
                for table in Base.metadata.sorted_tables}


def assert_nothing_written(instance: Instance, rows_before: dict[str, int]) -> None:
    """A refused or failed import left no row and no document behind."""
    assert row_counts(instance) == rows_before
    attachments = instance.settings.data_dir / "attachments"
    assert not attachments.exists() or not [path for path in attachments.rglob("*") if path.is_file()]


def rewrite(source: Path, target: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """Copy a zip member by member; `change` may alter a member's bytes or drop it (None)."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as changed:
        for name in original.namelist():
            data = change(name, original.read(name))
            if data is not None:
                changed.writestr(name, data)
    return target


def refused(instance: Instance, path: Path, match: str) -> None:
    before = row_counts(instance)
    attachments = instance.settings.data_dir / "attachments"
    files_before = sorted(attachments.rglob("*")) if attachments.exists() else []
    with pytest.raises(ExportInvalid, match=match):
        import_export(instance.factory, instance.settings, path)
    assert row_counts(instance) == before, "a refused import wrote rows"
    assert (sorted(attachments.rglob("*")) if attachments.exists() else []) == files_before


def test_truncated_zip(pg_or_sqlite_target: Instance, good_export: Path, tmp_path: Path) -> None:
    data = good_export.read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    refused(pg_or_sqlite_target, truncated, "not a readable zip file")


def test_changed_row(pg_or_sqlite_target: Instance, good_export: Path, tmp_path: Path) -> None:
    path = rewrite(good_export, tmp_path / "changed.zip",
                   lambda name, data: data.replace(b"Schranke", b"Schrankx") if name == "data/devices.jsonl" else data)
    refused(pg_or_sqlite_target, path, r"data/devices.jsonl: SHA-256 does not match")


def test_changed_telemetry(pg_or_sqlite_target: Instance, good_export: Path, tmp_path: Path) -> None:
    path = rewrite(good_export, tmp_path / "changed.zip", lambda name, data: data.replace(b"20.25", b"20.26")
                   if name == "telemetry/ALPHA-THM-0001/temperature.csv" else data)
    refused(pg_or_sqlite_target, path, "temperature.csv: SHA-256 does not match")


def test_missing_and_extra_files(pg_or_sqlite_target: Instance, good_export: Path, tmp_path: Path) -> None:
    path = rewrite(good_export, tmp_path / "missing.zip", lambda name, data: None if name.startswith("documents/") else data)
    refused(pg_or_sqlite_target, path, "listed in the manifest but missing")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("data/smuggled.jsonl", b"{}\n")
    refused(pg_or_sqlite_target, path, "in the zip but not in the manifest")


def test_manifest_and_file_changed_together_still_fail_on_counts(pg_or_sqlite_target: Instance, good_export: Path,
                                                                  tmp_path: Path) -> None:
    """Dropping a row and fixing size and hash in the manifest still leaves the counts wrong."""
    import hashlib

    with zipfile.ZipFile(good_export) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        users = archive.read("data/users.jsonl")
    shorter = b"\n".join(users.splitlines()[1:]) + b"\n"
    manifest["files"]["data/users.jsonl"].update(size=len(shorter), sha256=hashlib.sha256(shorter).hexdigest())

    def change(name: str, data: bytes) -> bytes:
        return {"data/users.jsonl": shorter, "manifest.json": json.dumps(manifest).encode()}.get(name, data)

    refused(pg_or_sqlite_target, rewrite(good_export, tmp_path / "forged.zip", change), "rows, the manifest says")


def test_unknown_schema_version(pg_or_sqlite_target: Instance, good_export: Path, tmp_path: Path) -> None:
    def change(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["schema_version"] = 99
        return json.dumps(manifest).encode()

    refused(pg_or_sqlite_target, rewrite(good_export, tmp_path / "future.zip", change), "schema version 99")


def test_top_tenant_must_fit_below_the_parent(sqlite_instance: Instance, good_export: Path) -> None:
    """A partner cannot go below another partner; the refusal writes nothing."""
    with system_session(sqlite_instance.factory, reason="test") as db:
        from leitstand.tenancy.models import Tenant

        partner = db.scalar(select(Tenant).where(Tenant.kind == "partner").limit(1))
        assert partner is not None
    before = row_counts(sqlite_instance)
    with pytest.raises(ImportRefused, match="cannot sit below"):
        import_export(sqlite_instance.factory, sqlite_instance.settings, good_export, parent_tenant_id=partner.id,
                      on_conflict="suffix")
    assert row_counts(sqlite_instance) == before


@pytest.fixture(params=["sqlite", "postgresql"])
def pg_or_sqlite_target(request: pytest.FixtureRequest, tmp_path: Path) -> Instance:
    name = "sqlite_instance" if request.param == "sqlite" else "pg_instance"
    if request.param == "sqlite":
        # A second SQLite instance: the export comes from the first one.
        from tests.dataexport.conftest import _instance

        return _instance(f"sqlite:///{tmp_path / 'target' / 'leitstand.db'}", tmp_path / "target-data")
    return request.getfixturevalue(name)


def test_a_failure_while_writing_rolls_everything_back(pg_or_sqlite_target: Instance, good_export: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """All or nothing: rows, telemetry and the documents already written are gone after a late failure."""
    from leitstand.dataexport import importer

    def fail(self: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer._Writer, "import_telemetry", fail)
    before = row_counts(pg_or_sqlite_target)
    with pytest.raises(RuntimeError, match="disk full"):
        import_export(pg_or_sqlite_target.factory, pg_or_sqlite_target.settings, good_export)
    assert_nothing_written(pg_or_sqlite_target, before)
