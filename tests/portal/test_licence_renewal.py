"""Renewing licences on the licences page: one from its row, several at once after a confirmation
with a result per licence, never another tenant's licence; and end dates that stay on one line.
"""

from __future__ import annotations

import re

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import select

from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.licenses.models import License, LicenseChange
from leitstand.licenses.service import record_change, term_end
from tests.portal.conftest import new_context
from tests.helpers.world import BETA_MARK, PASSWORD

ADMIN = "admin@alpha.test"  # a partner admin, who reads the portal in German


def licence_for(world, device: Device, starts_on: date) -> License:  # type: ignore[no-untyped-def]
    licence = License(device_id=device.id, tenant_id=device.tenant_id, starts_on=starts_on,
                      ends_on=term_end(starts_on, 12), term_months=12, auto_renew=False)
    world.db.add(licence)
    record_change(world.db, licence, "created", None)
    world.db.commit()
    return licence


def stored(world, licence: License) -> License:  # type: ignore[no-untyped-def]
    world.db.expire_all()
    return world.db.get(License, licence.id)


def logged_in(app, email: str) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url="http://localhost:8000")
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client, response.json()["csrf_token"]


def test_renew_one_licence_from_its_row(page: Page, world, login) -> None:  # type: ignore[no-untyped-def]
    licence = world.alpha.license
    old_end = licence.ends_on
    login(page, ADMIN, next_url="/manage/licenses")
    row = page.locator(f'tr[data-device="{world.alpha.barrier.serial_number}"]')
    row.get_by_role("button", name="Verlängern", exact=True).click()
    page.locator("#confirm-dialog").locator('button[value="ok"]').click()

    new_end = term_end(old_end + timedelta(days=1), 12)
    expect(row).to_contain_text(re.compile(f"{new_end.isoformat()}|{new_end.strftime('%d.%m.%Y')}"))
    assert stored(world, licence).ends_on == new_end
    actions = world.db.scalars(select(LicenseChange.action).where(LicenseChange.license_id == licence.id)).all()
    assert actions[-1] == "renewed"


def test_bulk_renewal_asks_first_then_reports_each_licence(page: Page, world, login) -> None:  # type: ignore[no-untyped-def]
    today = clock.now().date()
    expired = licence_for(world, world.alpha.thermostat, today - timedelta(days=400))
    retired = world.db.merge(Device(tenant_id=world.alpha.customer.id, type_key="barrier", serial_number="ALPHA-BAR-0099",
                                    name="Alte Schranke", decommissioned_at=clock.now()))
    world.db.commit()
    retired_licence = licence_for(world, retired, today - timedelta(days=100))
    retired_end = retired_licence.ends_on

    login(page, ADMIN, next_url="/manage/licenses")
    for serial in (world.alpha.thermostat.serial_number, "ALPHA-BAR-0099"):
        page.locator(f'tr[data-device="{serial}"] input[name="license"]').check()
    page.get_by_role("button", name="Auswahl verlängern").click()

    confirmation = page.locator("#bulk-confirmation")
    expect(confirmation).to_contain_text("2 Lizenzen verlängern?")
    expect(confirmation).to_contain_text(world.alpha.thermostat.name)
    expect(confirmation).to_contain_text("Alte Schranke")
    assert stored(world, expired).ends_on < today  # nothing renewed before the confirmation

    confirmation.get_by_role("button", name="2 Lizenzen verlängern").click()
    results = page.locator("#bulk-results")
    expect(results.locator("li")).to_have_count(2)
    expect(results.locator("li", has_text=world.alpha.thermostat.name)).to_contain_text("Verlängert")
    expect(results.locator("li", has_text="Alte Schranke")).to_contain_text("Das Gerät ist außer Betrieb genommen.")
    assert stored(world, expired).ends_on >= today
    assert stored(world, retired_licence).ends_on == retired_end


def test_another_tenants_licence_is_refused_and_left_alone(app, world) -> None:  # type: ignore[no-untyped-def]
    beta_licence = world.beta.license
    beta_end = beta_licence.ends_on
    own_end = world.alpha.license.ends_on
    client, csrf = logged_in(app, ADMIN)

    confirmation = client.get(f"/manage/licenses/renew?license={world.alpha.license.id}&license={beta_licence.id}")
    assert confirmation.status_code == 200
    assert BETA_MARK not in confirmation.text

    response = client.post("/manage/licenses/renew", data={"license": [world.alpha.license.id, beta_licence.id]},
                           headers={"x-csrf-token": csrf, "hx-request": "true"})
    assert response.status_code == 200, response.text
    assert BETA_MARK not in response.text
    assert "Verlängert" in response.text and "Lizenz nicht gefunden." in response.text
    assert stored(world, beta_licence).ends_on == beta_end
    assert stored(world, world.alpha.license).ends_on > own_end

    single = client.post(f"/api/v1/licenses/{beta_licence.id}/renew", headers={"x-csrf-token": csrf})
    assert single.status_code == 404
    assert stored(world, beta_licence).ends_on == beta_end


def test_a_selection_that_is_not_a_list_of_ids_is_a_clear_error(app, world) -> None:  # type: ignore[no-untyped-def]
    client, csrf = logged_in(app, ADMIN)
    response = client.post("/manage/licenses/renew", data={"license": "abc"}, headers={"x-csrf-token": csrf})
    assert response.status_code == 422


# The end-date cell's text as laid out: its height against one line of the cell.
_DATE_CELL_LINES = """(cell) => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const lineHeight = parseFloat(getComputedStyle(cell).lineHeight) || parseFloat(getComputedStyle(cell).fontSize) * 1.5;
  return range.getBoundingClientRect().height / lineHeight;
}"""


@pytest.mark.parametrize("phone", [False, True], ids=["1280px", "390px"])
def test_licence_dates_stay_on_one_line(browser, portal_url, world, login, phone: bool) -> None:  # type: ignore[no-untyped-def]
    # A long device name crowds the row, as real ones do; English dates (2026-03-01) could break at a hyphen.
    world.users["alpha_admin"].language = "en"
    world.alpha.barrier.name = ("Schranke Einfahrt Nord, Tiefgarage Ebene minus zwei beim Aufzug, "
                                "Zufahrt für Lieferverkehr, Dauerparker und Besucher des Ärztehauses")
    world.db.commit()
    context = new_context(browser, portal_url, phone=phone)
    page = context.new_page()
    try:
        login(page, ADMIN, next_url="/manage/licenses")
        row = page.locator(f'tr[data-device="{world.alpha.barrier.serial_number}"]')
        for day in (world.alpha.license.starts_on, world.alpha.license.ends_on):
            # The page writes dates in the user's language: 2026-03-01 or 01.03.2026.
            cell = row.locator("td", has_text=re.compile(f"^\\s*({day.isoformat()}|{day.strftime('%d.%m.%Y')})\\s*$"))
            expect(cell).to_be_visible()
            assert cell.evaluate(_DATE_CELL_LINES) < 1.5, "a licence date wraps onto a second line"
    finally:
        context.close()
