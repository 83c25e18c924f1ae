"""Onboarding a device: typing its claim code, choosing the site, the credentials shown once."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from leitstand.devices.models import Device
from leitstand.devices.service import set_claim_secret
from tests.portal.devices_support import fits_sideways
from tests.helpers.world import World

SERIAL = "NEW-BAR-0042"
CLAIM_CODE = "label-secret-0042xyz"


@pytest.fixture
def unclaimed(world: World) -> Device:
    """A barrier in Alpha Partner's stock, with the claim code printed on its label."""
    device = Device(tenant_id=world.alpha.partner.id, type_key="barrier", serial_number=SERIAL, name="Lager 0042")
    set_claim_secret(device, CLAIM_CODE)
    world.db.add(device)
    world.db.commit()
    return device


@pytest.fixture
def installer(world: World) -> str:
    """An operator of Alpha Kunde (who cannot see the partner's stock), without a second factor."""
    world.user_with_role("installer", "operator", world.alpha.customer)
    return "installer@roles.test"


def test_onboarding_a_device_by_typing_its_claim_code(
    page: Page, portal_url: str, world: World, unclaimed: Device, installer: str, login, shot,  # type: ignore[no-untyped-def]
):
    login(page, installer)
    page.goto("/devices?q=NEW-BAR")
    expect(page.locator(".device-table .empty")).to_be_visible()  # stock is not the customer's yet

    page.goto("/onboarding")
    page.locator("#claim-serial").fill(SERIAL)
    page.locator("#claim-code").fill(CLAIM_CODE)
    page.locator("[data-identify] button[type=submit]").click()

    place = page.locator('[data-step="place"]')
    expect(place).to_be_visible()
    place.locator("#claim-site").select_option(str(world.alpha.room.id))
    place.locator("#claim-name").fill("Schranke Nord")
    place.locator("button[type=submit]").click()

    confirm = page.locator('[data-step="confirm"]')
    expect(confirm.locator('[data-summary="serial_number"]')).to_have_text(SERIAL)
    expect(confirm.locator('[data-summary="site"]')).to_contain_text(world.alpha.room.name)
    confirm.locator("[data-claim]").click()

    done = page.locator('[data-step="done"]')
    expect(done).to_be_visible()
    expect(done.locator(".alert")).to_be_visible()
    expect(done.locator('[data-credential="username"]')).to_have_text(SERIAL)
    secret = done.locator('[data-credential="secret"]').inner_text()
    assert len(secret) >= 32
    expect(done.locator('[data-credential="bearer"]')).to_have_text(f"{SERIAL}:{secret}")
    expect(page.locator("#claim-code")).to_have_value("")  # the spent code is not left in the form
    shot(page, "onboarding")

    # The credentials shown are the device's real login: HTTP ingest takes them.
    heartbeat = page.request.post("/api/v1/ingest/heartbeat", data="{}",
                                  headers={"Authorization": f"Bearer {SERIAL}:{secret}", "content-type": "application/json"})
    assert heartbeat.status == 202, heartbeat.text()

    # Shown once: opening the device page does not show them again, and the device is listed now.
    done.locator("[data-result-link]").click()
    expect(page.get_by_role("heading", name="Schranke Nord")).to_be_visible()
    assert secret not in page.content()
    page.goto("/devices?q=NEW-BAR")
    expect(page.locator(".device-table tbody tr")).to_have_count(1)
    expect(page.locator(".device-table tbody tr")).to_contain_text("Schranke Nord")


def test_a_wrong_claim_code_is_refused_and_a_pasted_label_fills_both_fields(
    page: Page, portal_url: str, world: World, unclaimed: Device, installer: str, login,  # type: ignore[no-untyped-def]
):
    login(page, installer)
    page.goto("/onboarding")

    # A hand-held scanner types the label's text into the first field: both fields get filled.
    page.locator("#claim-serial").fill(f"LS1:{SERIAL}:{CLAIM_CODE}")
    expect(page.locator("#claim-serial")).to_have_value(SERIAL)
    expect(page.locator("#claim-code")).to_have_value(CLAIM_CODE)

    page.locator("#claim-code").fill("wrong-code-000000")
    page.locator("[data-identify] button[type=submit]").click()
    page.locator("#claim-site").select_option(str(world.alpha.room.id))
    page.locator('[data-step="place"] button[type=submit]').click()
    page.locator("[data-claim]").click()

    expect(page.locator(".toast").first).to_contain_text("Aktivierungscode passt nicht")
    expect(page.locator('[data-step="confirm"]')).to_be_visible()
    expect(page.locator('[data-step="done"]')).to_be_hidden()
    world.db.expire_all()
    assert world.db.get(Device, unclaimed.id).claimed_at is None


def test_onboarding_is_for_users_who_may_add_devices(world: World):
    assert world.as_user("alpha_reader").get("/onboarding").status_code == 403
    html = world.as_user("alpha_operator").get("/onboarding").text
    assert f'<option value="{world.alpha.room.id}" data-tenant-id="{world.alpha.customer.id}">' in html
    assert world.beta.room.name not in html


def test_the_phone_layout_of_onboarding(phone_page: Page, portal_url: str, world: World, installer: str, login, shot):  # type: ignore[no-untyped-def]
    login(phone_page, installer)
    phone_page.goto("/onboarding")

    expect(phone_page.locator("#claim-serial")).to_be_visible()
    assert fits_sideways(phone_page), "the page scrolls sideways on a phone"
    shot(phone_page, "onboarding-phone")
