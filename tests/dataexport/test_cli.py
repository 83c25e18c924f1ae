"""`leitstand export` and `leitstand import` on the command line: progress, figures, clear refusals."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from leitstand.cli import app
from leitstand.dataexport import manifest as fmt
from tests.dataexport.conftest import Instance, seed_tenant


def env(instance: Instance) -> dict[str, str]:
    return {"LEITSTAND_DATABASE_URL": instance.url, "LEITSTAND_DATA_DIR": str(instance.settings.data_dir),
            "LEITSTAND_SECRET_KEY": "test-installation-secret", "COLUMNS": "160"}


def test_export_then_import_on_the_command_line(sqlite_instance: Instance, pg_instance: Instance, tmp_path: Path) -> None:
    seeded = seed_tenant(sqlite_instance)
    out = tmp_path / "alpha.zip"
    runner = CliRunner()
    exported = runner.invoke(app, ["export", "--tenant", str(seeded.partner_id), "--out", str(out)],
                             env=env(sqlite_instance))
    assert exported.exit_code == 0, exported.output
    assert "export: done" in exported.output and "100.0 %" in exported.output  # the progress bar's last state
    assert f"{seeded.points:,} telemetry points" in exported.output and "SHA-256 " in exported.output

    imported = runner.invoke(app, ["import", str(out)], env=env(pg_instance))
    assert imported.exit_code == 0, imported.output
    assert "import: telemetry" in imported.output
    assert "devices ids:" in imported.output and "have no password" in imported.output
    # Every kind of thing the export did not carry, with where it is issued anew.
    for kind in fmt.NOT_CARRIED:
        assert f"  - {kind.what}. {kind.reissue}\n    {kind.where()}\n" in imported.output, kind.key

    again = runner.invoke(app, ["import", str(out)], env=env(pg_instance))
    assert again.exit_code == 1
    assert "ImportRefused: nothing was written" in again.output and "exists already" in again.output


def test_import_of_a_damaged_file_says_why(sqlite_instance: Instance, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    result = CliRunner().invoke(app, ["import", str(damaged)], env=env(sqlite_instance))
    assert result.exit_code == 1
    assert "ExportInvalid: nothing was written" in result.output and "not a readable zip file" in result.output
