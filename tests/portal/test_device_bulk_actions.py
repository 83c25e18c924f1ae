"""Bulk actions on the device list: a maintenance plan for several devices, and a command to a
selection, confirmed first and then reported device by device (sent, or refused and why), with
the same permissions, licence gate and audit log as a single device; never another tenant's device.
"""

from __future__ import annotations

from datetime import date, timedelta

from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from leitstand.audit.models import AuditEntry
from leitstand.clock import clock
from leitstand.commands.models import Command
from leitstand.devices.models import Device
from leitstand.licenses.models import License
from leitstand.licenses.service import term_end
from leitstand.maintenance import service as maintenance
from leitstand.maintenance.models import MaintenancePlan
from tests.helpers.world import BETA_MARK, PASSWORD

ADMIN = "admin@alpha.test"  # a partner admin, who reads the portal in German


def barrier(world, serial: str, name: str, licence_starts: date) -> Device:  # type: ignore[no-untyped-def]
    device = Device(tenant_id=world.alpha.customer.id, type_key="barrier", serial_number=serial, name=name,
                    site_id=world.alpha.room.id, claimed_at=clock.now())
    world.db.add(device)
    world.db.flush()
    world.db.add(License(device_id=device.id, tenant_id=device.tenant_id, starts_on=licence_starts,
                         ends_on=term_end(licence_starts, 12), term_months=12, auto_renew=False))
    world.db.commit()
    return device


def logged_in(app) -> tuple[TestClient, dict[str, str]]:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url="http://localhost:8000")
    response = client.post("/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client, {"x-csrf-token": response.json()["csrf_token"], "hx-request": "true"}


def commands_of(world, device: Device) -> list[Command]:  # type: ignore[no-untyped-def]
    world.db.expire_all()
    return list(world.db.scalars(select(Command).where(Command.device_id == device.id, Command.name == "open",
                                                       Command.idempotency_key.not_like("%-first"))))


def test_assign_a_maintenance_plan_to_two_devices(app, world) -> None:  # type: ignore[no-untyped-def]
    template = maintenance.new_plan(world.db, world.alpha.barrier, {"name": "Jahreswartung", "kind": "interval",
                                                                   "interval_months": 12})
    world.db.commit()
    second = barrier(world, "ALPHA-BAR-0002", "Schranke Ausfahrt", clock.now().date())
    client, headers = logged_in(app)

    confirmation = client.get(f"/devices/bulk?action=plan&plan={template.id}"
                              f"&device={second.id}&device={world.alpha.thermostat.id}")
    assert confirmation.status_code == 200
    assert "Jahreswartung" in confirmation.text and "2 Geräte" in confirmation.text

    response = client.post("/devices/bulk/plan", headers=headers,
                           data={"plan": template.id, "device": [second.id, world.alpha.thermostat.id]})
    assert response.status_code == 200, response.text
    world.db.expire_all()
    for device in (second, world.alpha.thermostat):
        plans = world.db.scalars(select(MaintenancePlan).where(MaintenancePlan.device_id == device.id)).all()
        assert [(plan.name, plan.interval_months) for plan in plans] == [("Jahreswartung", 12)]
    audited = world.db.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.target_type == "maintenance_plans", AuditEntry.actor_user_id == world.users["alpha_admin"].id))
    assert audited == 2


def test_a_bulk_command_is_confirmed_then_reported_device_by_device(page: Page, world, login) -> None:  # type: ignore[no-untyped-def]
    today = clock.now().date()
    second = barrier(world, "ALPHA-BAR-0002", "Schranke Ausfahrt", today - timedelta(days=10))
    lapsed = barrier(world, "ALPHA-BAR-0003", "Schranke Lieferzone", today - timedelta(days=400))
    chosen = (world.alpha.barrier, second, lapsed)

    login(page, ADMIN, next_url="/devices")
    for device in chosen:
        page.locator(f'tr[data-device-id="{device.id}"] input[name="device"]').check()
    page.get_by_role("button", name="Befehl senden").click()
    page.locator('select[name="command"]').select_option("open")
    page.get_by_role("button", name="Weiter").click()

    confirmation = page.locator("#bulk-confirmation")
    expect(confirmation).to_contain_text("„Öffnen“ an 3 Geräte senden?")
    for device in chosen:
        expect(confirmation).to_contain_text(device.name)
    assert not any(commands_of(world, device) for device in chosen), "sent before the confirmation"

    confirmation.get_by_role("button", name="An 3 Geräte senden").click()
    results = page.locator("#bulk-results")
    expect(results.locator("li")).to_have_count(3)
    for device in (world.alpha.barrier, second):
        expect(results.locator("li", has_text=device.name).locator("[data-command-status]")).to_have_attribute(
            "data-command-status", "sent")
    refused = results.locator("li", has_text=lapsed.name)
    expect(refused).to_contain_text("Abgelehnt")
    expect(refused).to_contain_text("Lizenz des Geräts: abgelaufen; Befehle brauchen eine aktive Lizenz.")
    assert [len(commands_of(world, device)) for device in chosen] == [1, 1, 0]


def test_another_tenants_device_in_the_selection_is_refused_alone(app, world) -> None:  # type: ignore[no-untyped-def]
    client, headers = logged_in(app)
    response = client.post("/devices/bulk/command", headers=headers,
                           data={"command": "open", "device": [world.beta.barrier.id, world.alpha.barrier.id]})
    assert response.status_code == 200, response.text
    assert BETA_MARK not in response.text
    assert "Gerät nicht gefunden." in response.text
    assert len(commands_of(world, world.alpha.barrier)) == 1
    assert commands_of(world, world.beta.barrier) == []


def test_the_confirmation_sends_nothing(app, world) -> None:  # type: ignore[no-untyped-def]
    client, _headers = logged_in(app)
    response = client.get(f"/devices/bulk?action=command&command=open&device={world.alpha.barrier.id}")
    assert response.status_code == 200
    assert "„Öffnen“ an 1 Gerät senden?" in response.text
    assert commands_of(world, world.alpha.barrier) == []


def test_a_selection_that_is_not_a_list_of_ids_is_a_clear_error(app, world) -> None:  # type: ignore[no-untyped-def]
    client, headers = logged_in(app)
    assert client.get("/devices/bulk?action=command&device=x").status_code == 422
    assert client.post("/devices/bulk/command", headers=headers, data={"command": "open"}).status_code == 422


def test_select_all_ticks_every_device_shown(page: Page, world, login) -> None:  # type: ignore[no-untyped-def]
    login(page, ADMIN, next_url="/devices")
    rows = page.locator('#device-table input[name="device"]')
    expect(rows).to_have_count(2)  # Alpha's barrier and thermostat
    page.get_by_label("Alle angezeigten auswählen").check()
    for index in range(2):
        expect(rows.nth(index)).to_be_checked()
    rows.nth(0).uncheck()
    expect(page.get_by_label("Alle angezeigten auswählen")).not_to_be_checked()
