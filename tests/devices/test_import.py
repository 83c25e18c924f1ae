"""Bulk import of devices from CSV: a per-row report, all or nothing, limits, and the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from leitstand.audit.models import AuditEntry
from leitstand.cli import app as cli_app
from leitstand.devices.claiming import MAX_IMPORT_BYTES, MAX_IMPORT_ROWS
from leitstand.devices.models import Device
from leitstand.devices.service import claim_secret_matches

IMPORT = "/api/v1/devices/import"
HEADER = "serial_number,type_key,name,site_id,labels,claim_secret\n"


def upload(world, text: str, user: str = "alpha_admin", tenant=None, **params):  # type: ignore[no-untyped-def]
    tenant = tenant or world.alpha.partner
    return world.as_user(user).post(IMPORT, params={"tenant_id": tenant.id, **params}, content=text.encode(),
                                    headers={"content-type": "text/csv"})


def devices_named(world, *serials: str) -> dict[str, Device]:  # type: ignore[no-untyped-def]
    world.db.expire_all()
    return {d.serial_number: d for d in world.db.scalars(select(Device).where(Device.serial_number.in_(serials)))}


def device_count(world) -> int:  # type: ignore[no-untyped-def]
    world.db.expire_all()
    return world.db.scalar(select(func.count()).select_from(Device)) or 0


def test_good_rows_become_unclaimed_stock_with_a_report(world):
    text = HEADER + (
        f"NT-BAR-0001,barrier,Schranke Nord,{world.alpha.room.id},einfahrt|nord,printed-label-0001\n"
        "NT-THM-0001,thermostat,,,,\n"
    )

    response = upload(world, text, tenant=world.alpha.customer)

    assert response.status_code == 201, response.text
    report = response.json()
    assert report["imported"] is True and report["failed"] == 0 and report["total"] == 2
    first, second = report["rows"]
    assert (first["row"], first["status"], first["claim_secret"]) == (2, "ok", None)  # given: not echoed
    assert (second["row"], second["status"]) == (3, "ok")
    stored = devices_named(world, "NT-BAR-0001", "NT-THM-0001")
    barrier, thermostat = stored["NT-BAR-0001"], stored["NT-THM-0001"]
    assert first["device_id"] == barrier.id
    assert (barrier.tenant_id, barrier.site_id, barrier.labels) == (world.alpha.customer.id, world.alpha.room.id, ["einfahrt", "nord"])
    assert barrier.claimed_at is None
    assert claim_secret_matches(barrier, "printed-label-0001")
    assert thermostat.name == "NT-THM-0001"  # no name: the serial number
    assert claim_secret_matches(thermostat, second["claim_secret"])  # generated, shown this once
    assert world.db.scalar(select(AuditEntry).where(AuditEntry.action == "device.import")) is not None


def test_bad_rows_are_reported_by_number_and_nothing_is_imported(world):
    before = device_count(world)
    text = HEADER + "\n".join([
        "NT-OK-0001,barrier,Gut,,,",                                   # row 2: fine
        "NT-BAD-0001,teleporter,Unbekannt,,,",                        # row 3: unknown type
        "NT-OK-0001,bollard,Doppelt,,,",                              # row 4: repeats row 2
        f"{world.beta.barrier.serial_number},barrier,Vergeben,,,",    # row 5: registered already (elsewhere)
        f"NT-BAD-0002,barrier,Fremd,{world.beta.room.id},,",          # row 6: a site Alpha cannot see
        "NT-BAD-0003,barrier," + "x" * 201 + ",,,",                   # row 7: name too long
        "NT-BAD-0004,barrier,Kurz,,,short",                           # row 8: claim secret too short
        "x,barrier,Seriennummer,,,",                                  # row 9: serial number malformed
    ]) + "\n"

    response = upload(world, text)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert "es wurde nichts importiert" in problem["detail"]
    rows = {row["row"]: row for row in problem["report"]["rows"]}
    assert rows[2]["status"] == "ok"
    assert "unknown device type" in rows[3]["message"]
    assert "repeats row 2" in rows[4]["message"]
    assert "registered already" in rows[5]["message"]
    assert "BETA" not in rows[5]["message"]  # taken, not by whom
    assert "not visible" in rows[6]["message"]
    assert rows[7]["message"].startswith("name")
    assert rows[8]["message"].startswith("claim_secret")
    assert rows[9]["message"].startswith("serial_number")
    assert {row["status"] for number, row in rows.items() if number > 2} == {"error"}
    assert problem["report"]["failed"] == 7
    assert device_count(world) == before


def test_a_site_below_the_devices_tenant_is_a_row_error(world):
    """A device stands at a site of its own tenant or one above it: the partner's stock
    cannot stand in its customer's car park (claiming moves it there)."""
    response = upload(world, HEADER + f"NT-SITE-0001,barrier,,{world.alpha.room.id},,\n", tenant=world.alpha.partner)

    assert response.status_code == 422, response.text
    assert "another organisation" in response.json()["report"]["rows"][0]["message"]


def test_a_dry_run_checks_and_stores_nothing(world):
    before = device_count(world)

    response = upload(world, HEADER + "NT-DRY-0001,barrier,Probe,,,\n", dry_run="true")

    assert response.status_code == 200, response.text
    assert response.json()["imported"] is False and response.json()["rows"][0]["status"] == "ok"
    assert device_count(world) == before


def test_a_multipart_upload_with_semicolons_works(world):
    text = "serial_number;type_key;name;labels\nNT-MP-0001;bollard;Poller Süd;a|b\n"

    response = world.as_user("alpha_admin").post(
        IMPORT, params={"tenant_id": world.alpha.partner.id},
        files={"file": ("devices.csv", ("\ufeff" + text).encode(), "text/csv")},
    )

    assert response.status_code == 201, response.text
    device = devices_named(world, "NT-MP-0001")["NT-MP-0001"]
    assert (device.type_key, device.name, device.labels) == ("bollard", "Poller Süd", ["a", "b"])


def test_file_level_problems(world):
    assert upload(world, "serial,type\nA,b\n").status_code == 422  # unknown columns
    assert upload(world, "type_key\nbarrier\n").status_code == 422  # serial_number missing
    assert upload(world, HEADER).status_code == 422  # no rows
    too_many = HEADER + "".join(f"NT-MANY-{n:05d},barrier,,,,\n" for n in range(MAX_IMPORT_ROWS + 1))
    assert upload(world, too_many).status_code == 422
    assert upload(world, HEADER + "x" * MAX_IMPORT_BYTES).status_code == 413
    not_utf8 = world.as_user("alpha_admin").post(IMPORT, params={"tenant_id": world.alpha.partner.id},
                                                content=b"\xff\xfe" + HEADER.encode("utf-16-le"),
                                                headers={"content-type": "text/csv"})
    assert not_utf8.status_code == 422
    json_body = world.as_user("alpha_admin").post(IMPORT, params={"tenant_id": world.alpha.partner.id}, json={"a": 1})
    assert json_body.status_code == 415
    assert world.db.scalar(select(func.count()).select_from(Device).where(Device.serial_number.like("NT-MANY-%"))) == 0


def test_importing_into_another_tenant_is_404(world):
    before = device_count(world)

    response = upload(world, HEADER + "NT-X-0001,barrier,,,,\n", user="beta_admin", tenant=world.alpha.customer)

    assert response.status_code == 404
    assert device_count(world) == before


def test_importing_needs_device_write(world):
    assert upload(world, HEADER + "NT-X-0001,barrier,,,,\n", user="alpha_reader", tenant=world.alpha.customer).status_code == 403


# --- the CLI ---------------------------------------------------------------------------------


def test_cli_import_writes_generated_secrets_for_the_labels(world, settings, tmp_path: Path):
    source = tmp_path / "batch.csv"
    source.write_text(HEADER + "NT-CLI-0001,barrier,,,,\nNT-CLI-0002,barrier,,,,given-label-0002\n")
    secrets_out = tmp_path / "secrets.csv"

    result = CliRunner().invoke(cli_app, ["devices", "import", str(source), "--tenant-id", str(world.alpha.partner.id),
                                          "--secrets-out", str(secrets_out)],
                                env={"LEITSTAND_DATABASE_URL": settings.database_url, "LEITSTAND_CONFIG": None,
                                     "LEITSTAND_DATA_DIR": str(settings.data_dir), "COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    with secrets_out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["serial_number"] for row in rows] == ["NT-CLI-0001"]
    stored = devices_named(world, "NT-CLI-0001", "NT-CLI-0002")
    assert claim_secret_matches(stored["NT-CLI-0001"], rows[0]["claim_secret"])
    assert claim_secret_matches(stored["NT-CLI-0002"], "given-label-0002")


def test_cli_import_lists_bad_rows_and_fails(world, settings, tmp_path: Path):
    source = tmp_path / "batch.csv"
    source.write_text(HEADER + "NT-CLI-0003,barrier,,,,\nNT-CLI-0004,teleporter,,,,\n")
    before = device_count(world)

    result = CliRunner().invoke(cli_app, ["devices", "import", str(source), "--tenant-id", str(world.alpha.partner.id)],
                                env={"LEITSTAND_DATABASE_URL": settings.database_url, "LEITSTAND_CONFIG": None,
                                     "LEITSTAND_DATA_DIR": str(settings.data_dir), "COLUMNS": "200"})

    assert result.exit_code == 1
    assert "teleporter" in result.output and "nothing was imported" in result.output
    assert device_count(world) == before
