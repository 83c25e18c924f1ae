"""An export written before the seven command states (succeeded, timed_out) imports with today's names."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

from sqlalchemy import select

from leitstand.commands.models import Command
from leitstand.dataexport.export import export_tenant
from leitstand.dataexport.importer import import_export
from leitstand.tenancy.scope import system_session
from tests.dataexport.conftest import Instance, _instance, seed_tenant

COMMANDS = "data/commands.jsonl"


def _as_before_0015(source: Path, target: Path) -> Path:
    """The same export with the commands' statuses in their former names, the manifest to match."""
    with zipfile.ZipFile(source) as original:
        rows = [json.loads(line) for line in original.read(COMMANDS).decode().splitlines() if line]
        assert rows and {row["status"] for row in rows} == {"confirmed"}
        rows[0]["status"] = "succeeded"
        rows.append({**rows[0], "id": rows[0]["id"] + 10_000, "public_id": "0ld0ld0ld0ld0ld0",
                     "idempotency_key": "older", "status": "timed_out"})
        commands = "".join(json.dumps(row) + "\n" for row in rows).encode()
        manifest = json.loads(original.read("manifest.json"))
        manifest["files"][COMMANDS].update(size=len(commands), sha256=hashlib.sha256(commands).hexdigest(), rows=len(rows))
        manifest["counts"]["commands"] = len(rows)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as changed:
            for name in original.namelist():
                data = {COMMANDS: commands, "manifest.json": json.dumps(manifest).encode()}.get(name)
                changed.writestr(name, data if data is not None else original.read(name))
    return target


def test_former_command_status_names_are_imported_as_confirmed_and_expired(sqlite_instance: Instance,
                                                                           tmp_path: Path) -> None:
    seeded = seed_tenant(sqlite_instance)
    with system_session(sqlite_instance.factory, reason="test export") as db:
        export_tenant(db, sqlite_instance.settings, seeded.partner_id, tmp_path / "today.zip")
    older = _as_before_0015(tmp_path / "today.zip", tmp_path / "older.zip")
    target = _instance(f"sqlite:///{tmp_path / 'target' / 'leitstand.db'}", tmp_path / "target-data")

    import_export(target.factory, target.settings, older)

    with system_session(target.factory, reason="test reads commands") as db:
        assert sorted(db.scalars(select(Command.status))) == ["confirmed", "expired"]
