"""The maintenance API: plans, the inspection book with attachments, the PDF, history, alarms."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from leitstand.alarms.models import Alarm
from leitstand.audit.models import AuditEntry
from leitstand.clock import clock
from leitstand.maintenance.due_alarms import sync_due_alarms
from leitstand.maintenance.models import MaintenancePlan
from leitstand.scheduler.loop import JOBS, JobContext
from tests.helpers.world import World

NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32


def _overdue_plan(api, device_id: int) -> dict:  # type: ignore[no-untyped-def]
    response = api.post(f"/api/v1/maintenance/devices/{device_id}/plans", json={
        "name": "Annual safety inspection", "kind": "interval", "interval_months": 12, "last_done_on": "2025-05-01",
    })
    assert response.status_code == 201, response.text
    return response.json()


def _entry(api, device_id: int, **extra) -> dict:  # type: ignore[no-untyped-def]
    body = {"performed_on": "2026-06-14", "technician_name": "M. Weber", "signature_name": "M. Weber",
            "findings": "Spring worn, replaced.",
            "checklist": [{"item": "Boom", "result": "ok"}, {"item": "Light barrier", "result": "not_ok", "note": "dirty"}],
            **extra}
    response = api.post(f"/api/v1/maintenance/devices/{device_id}/entries", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_plans_crud_with_light_and_reset_by_an_entry(world: World) -> None:
    clock.freeze(NOW)
    api, barrier = world.as_user("alpha_admin"), world.alpha.barrier
    plan = _overdue_plan(api, barrier.id)
    assert plan["due_on"] == "2026-05-01" and plan["light"] == "red"
    status = api.get(f"/api/v1/maintenance/devices/{barrier.id}/status").json()
    assert status["light"] == "red" and "Boom, fixing and break-away coupling" in status["checklist"]
    site = api.get(f"/api/v1/maintenance/sites/{world.alpha.site.id}/status").json()
    assert site == {"site_id": world.alpha.site.id, "light": "red", "devices": {"green": 0, "yellow": 0, "red": 1}}

    changed = api.patch(f"/api/v1/maintenance/plans/{plan['id']}", json={"lead_days": 60, "name": "Yearly"})
    assert changed.status_code == 200 and changed.json()["warn_on"] == "2026-03-02"

    entry = _entry(api, barrier.id, completed_plan_ids=[plan["id"]])
    assert entry["technician_name"] == "M. Weber" and entry["checklist"][1]["result"] == "not_ok"
    assert api.get(f"/api/v1/maintenance/devices/{barrier.id}/status").json()["light"] == "green"
    plans = api.get(f"/api/v1/maintenance/devices/{barrier.id}/plans").json()
    assert plans[0]["due_on"] == "2027-06-14" and plans[0]["last_done_on"] == "2026-06-14"
    assert api.get("/api/v1/maintenance/summary").json() == {"green": 1, "yellow": 0, "red": 0}
    audited = world.db.execute(select(AuditEntry.target_type, AuditEntry.actor_user_id, AuditEntry.tenant_id)).all()
    assert {(kind, world.users["alpha_admin"].id, barrier.tenant_id) for kind in ("maintenance_plans", "inspection_entries")} \
        <= set(audited)

    assert api.delete(f"/api/v1/maintenance/plans/{plan['id']}").status_code == 204
    assert api.get(f"/api/v1/maintenance/devices/{barrier.id}/status").json()["light"] is None


def test_defaults_and_invalid_plans(world: World) -> None:
    clock.freeze(NOW)
    api, barrier = world.as_user("alpha_admin"), world.alpha.barrier
    created = api.post(f"/api/v1/maintenance/devices/{barrier.id}/plans/defaults")
    assert created.status_code == 201 and len(created.json()) == 2
    assert api.post(f"/api/v1/maintenance/devices/{barrier.id}/plans/defaults").json() == []
    refused = api.post(f"/api/v1/maintenance/devices/{barrier.id}/plans", json={"name": "x", "kind": "counter"})
    assert refused.status_code == 422 and "counter_key" in refused.text


def test_the_board_lists_devices_worst_first_with_filters(world: World) -> None:
    clock.freeze(NOW)
    api, alpha = world.as_user("alpha_admin"), world.alpha
    _overdue_plan(api, alpha.barrier.id)
    api.post(f"/api/v1/maintenance/devices/{alpha.thermostat.id}/plans/defaults")
    board = api.get("/api/v1/maintenance/devices").json()
    assert [(item["device_id"], item["light"]) for item in board["items"]] == [
        (alpha.barrier.id, "red"), (alpha.thermostat.id, "green")]
    assert api.get("/api/v1/maintenance/devices", params={"type_key": "thermostat"}).json()["total"] == 1
    assert api.get("/api/v1/maintenance/devices", params={"light": 2}).json()["total"] == 1
    assert api.get("/api/v1/maintenance/devices", params={"site_id": world.beta.site.id}).status_code == 404
    second = api.get("/api/v1/maintenance/devices", params={"limit": 1, "offset": 1}).json()
    assert second == {"items": [board["items"][1]], "total": 2, "limit": 1, "offset": 1}


@pytest.mark.parametrize(("name", "content"), [("report.pdf", PDF), ("photo.png", PNG), ("photo.jpg", JPEG),
                                               ("photo.webp", WEBP)])
def test_accepted_attachments_are_stored_with_their_hash(world: World, name: str, content: bytes) -> None:
    clock.freeze(NOW)
    api, barrier = world.as_user("alpha_admin"), world.alpha.barrier
    entry = _entry(api, barrier.id)
    uploaded = api.post(f"/api/v1/maintenance/entries/{entry['id']}/attachments", files={"file": (name, content)})
    assert uploaded.status_code == 201, uploaded.text
    import hashlib

    assert uploaded.json()["sha256"] == hashlib.sha256(content).hexdigest()
    download = api.get(f"/api/v1/maintenance/attachments/{uploaded.json()['id']}")
    assert download.status_code == 200 and download.content == content
    assert download.headers["content-type"] == uploaded.json()["media_type"]
    stored = list((world.app.state.settings.data_dir / "attachments" / str(barrier.tenant_id)).iterdir())
    assert len(stored) == 1
    listed = api.get(f"/api/v1/maintenance/entries/{entry['id']}").json()
    assert [item["file_name"] for item in listed["attachments"]] == [name]


def test_uploads_are_checked_by_content_and_size(world: World) -> None:
    clock.freeze(NOW)
    api = world.as_user("alpha_admin")
    entry = _entry(api, world.alpha.barrier.id)
    url = f"/api/v1/maintenance/entries/{entry['id']}/attachments"
    # A PNG called .pdf is stored as what it is: a PNG.
    renamed = api.post(url, files={"file": ("report.pdf", PNG, "application/pdf")})
    assert renamed.status_code == 201 and renamed.json()["media_type"] == "image/png"
    assert renamed.json()["file_name"] == "report.pdf.png"
    html = api.post(url, files={"file": ("report.pdf", b"<html><script>alert(1)</script></html>", "application/pdf")})
    assert html.status_code == 415 and "PDF, PNG, JPEG or WebP" in html.json()["detail"]
    oversized = api.post(url, files={"file": ("big.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024), "application/pdf")})
    assert oversized.status_code == 413 and "höchstens" in oversized.json()["detail"]
    not_multipart = api.post(url, json={"file": "x"})
    assert not_multipart.status_code == 415
    missing_field = api.post(url, files={"other": ("a.pdf", PDF)})
    assert missing_field.status_code == 422


def test_attachments_and_entries_are_scoped_to_the_tenant(world: World) -> None:
    clock.freeze(NOW)
    alpha_api, beta_api = world.as_user("alpha_admin"), world.as_user("beta_admin")
    entry = _entry(alpha_api, world.alpha.barrier.id)
    attachment = alpha_api.post(f"/api/v1/maintenance/entries/{entry['id']}/attachments",
                                files={"file": ("r.pdf", PDF)}).json()
    assert beta_api.get(f"/api/v1/maintenance/attachments/{attachment['id']}").status_code == 404
    assert beta_api.delete(f"/api/v1/maintenance/attachments/{attachment['id']}").status_code == 404
    assert beta_api.get(f"/api/v1/maintenance/entries/{entry['id']}").status_code == 404
    assert beta_api.post(f"/api/v1/maintenance/entries/{entry['id']}/attachments",
                         files={"file": ("r.pdf", PDF)}).status_code == 404
    assert beta_api.get(f"/api/v1/maintenance/devices/{world.alpha.barrier.id}/book.pdf").status_code == 404
    # A reader may download but not upload.
    reader = world.as_user("alpha_reader")
    assert reader.get(f"/api/v1/maintenance/attachments/{attachment['id']}").status_code == 200
    assert reader.post(f"/api/v1/maintenance/entries/{entry['id']}/attachments",
                       files={"file": ("r.pdf", PDF)}).status_code == 403
    # Deleting the entry removes its files.
    assert alpha_api.delete(f"/api/v1/maintenance/entries/{entry['id']}").status_code == 204
    assert list((world.app.state.settings.data_dir / "attachments").rglob("*.*")) == []
    assert not [p for p in (world.app.state.settings.data_dir / "attachments").rglob("*") if p.is_file()]


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_book_as_pdf_holds_the_entries_of_the_period(world: World, language: str) -> None:
    clock.freeze(NOW)
    api, barrier = world.as_user("alpha_admin"), world.alpha.barrier
    plan = _overdue_plan(api, barrier.id)
    _entry(api, barrier.id, completed_plan_ids=[plan["id"]], findings="Federpaket verschlissen, getauscht.")
    _entry(api, barrier.id, performed_on="2024-01-10", findings="Outside the period")
    world.db.get(type(world.users["alpha_admin"]), world.users["alpha_admin"].id).language = language
    world.db.commit()
    response = api.get(f"/api/v1/maintenance/devices/{barrier.id}/book.pdf",
                       params={"from": "2026-01-01", "to": "2026-06-30"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert barrier.name in text
    assert "Federpaket verschlissen, getauscht." in text
    assert "Outside the period" not in text
    assert ("Prüfbuch" if language == "de" else "Inspection book") in text
    assert ("n. i. O." if language == "de" else "not ok") in text
    assert "M. Weber" in text


def test_history_per_device_and_site_lists_entries_and_maintenance_alarms(world: World) -> None:
    clock.freeze(NOW)
    api, alpha = world.as_user("alpha_admin"), world.alpha
    plan = _overdue_plan(api, alpha.barrier.id)  # raises the maintenance alarm at once
    _entry(api, alpha.thermostat.id, findings="Battery replaced")
    device = api.get(f"/api/v1/maintenance/devices/{alpha.barrier.id}/history").json()
    assert [(item["kind"], item["title"]) for item in device] == [("alarm", "Wartung überfällig: Jährliche Sicherheitsprüfung")]
    _entry(api, alpha.barrier.id, completed_plan_ids=[plan["id"]])
    site = api.get(f"/api/v1/maintenance/sites/{alpha.site.id}/history").json()
    assert sorted(item["kind"] for item in site) == ["alarm", "inspection", "inspection"]
    assert {item["device_id"] for item in site} == {alpha.barrier.id, alpha.thermostat.id}
    assert world.as_user("beta_admin").get(f"/api/v1/maintenance/sites/{alpha.site.id}/history").status_code == 404


def test_maintenance_due_alarms_follow_the_light(world: World) -> None:
    clock.freeze(NOW)
    db, api, barrier = world.db, world.as_user("alpha_admin"), world.alpha.barrier
    plan = api.post(f"/api/v1/maintenance/devices/{barrier.id}/plans", json={
        "name": "Annual", "kind": "interval", "interval_months": 12, "last_done_on": "2025-07-01"}).json()
    assert plan["light"] == "yellow"  # due 2026-07-01, within 30 days

    def open_alarms() -> list[tuple[str, str]]:
        db.expire_all()
        return [(a.key, a.severity) for a in db.scalars(select(Alarm).where(Alarm.kind == "maintenance_due",
                                                                             Alarm.open_key.is_not(None)))]

    key = f"maintenance:{plan['id']}"
    assert open_alarms() == [(key, "warning")]
    # The scheduler's job turns it major once the plan is overdue, and does not repeat itself.
    job = next(job for job in JOBS if job.name == "maintenance due")
    clock.freeze(datetime(2026, 7, 2, 9, tzinfo=UTC))
    assert job.run(db, JobContext(lambda tenant_id, update: None, world.app.state.settings)) == 1
    assert open_alarms() == [(key, "major")]
    assert job.run(db, JobContext(lambda tenant_id, update: None, world.app.state.settings)) == 0
    occurrences = db.scalar(select(Alarm.occurrences).where(Alarm.key == key, Alarm.open_key.is_not(None)))
    # An inspection completing the plan clears it.
    _entry(api, barrier.id, performed_on="2026-07-02", completed_plan_ids=[plan["id"]])
    assert open_alarms() == []
    assert occurrences == 2
    cleared = db.scalar(select(Alarm).where(Alarm.key == key))
    assert cleared.state == "cleared"


def test_sync_clears_alarms_of_plans_that_are_gone(world: World) -> None:
    clock.freeze(NOW)
    db, api, barrier = world.db, world.as_user("alpha_admin"), world.alpha.barrier
    plan = _overdue_plan(api, barrier.id)
    plan_row = db.get(MaintenancePlan, plan["id"])
    plan_row.active = False
    db.commit()
    report = sync_due_alarms(db)
    db.commit()
    assert report.cleared == [f"maintenance:{plan['id']}"]

