"""Management in a real browser: invite a colleague, grant a role on a site, create and revoke an
API token, switch off automatic renewal, and find all of it in the audit log.

Each action goes through the page's own forms (and so through the JSON API, as the
portal does); the tests then check what a person would see, and what the server kept.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.helpers.world import ALPHA_MARK

ADMIN = "admin@alpha.test"


def confirm_dialog(page: Page) -> None:
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    dialog.locator('button[value="ok"]').click()


def test_invite_a_colleague_with_a_role_on_a_site(page: Page, world, login, shot, smtp) -> None:  # type: ignore[no-untyped-def]
    login(page, ADMIN, next_url="/manage/users")
    page.locator("#invite summary").click()
    form = page.locator('form[data-manage="invite"]')
    form.locator('input[name="email"]').fill("greta.kollegin@example.com")
    form.locator('input[name="display_name"]').fill("Greta Kollegin")
    form.locator('select[name="language"]').select_option("en")
    form.locator('select[name="tenant_id"]').select_option(str(world.alpha.customer.id))
    form.locator('select[name="role"]').select_option("operator_technician")
    form.locator('select[name="scope"]').select_option(f"site:{world.alpha.site.id}")
    shot(page, "manage-invite")
    form.locator('button[type="submit"]').click()

    row = page.locator('tr[data-user="greta.kollegin@example.com"]')
    expect(row).to_be_visible()
    expect(row.locator(".badge.warn")).to_be_visible()  # invited, no password yet
    expect(row.locator(".manage-grants")).to_contain_text(f"Alpha Parkhaus {ALPHA_MARK}")
    expect(row.locator('button[type="submit"]')).to_have_count(2)  # resend, withdraw
    mails = smtp.to("greta.kollegin@example.com")
    assert len(mails) == 1
    assert "/invitation?token=" in mails[0].get_payload(decode=False) or "/invitation?token=" in mails[0].as_string()
    shot(page, "manage-users")


def test_grant_a_role_at_site_scope_and_remove_it(page: Page, world, login) -> None:  # type: ignore[no-untyped-def]
    reader = world.users["alpha_reader"]
    login(page, ADMIN, next_url=f"/manage/users/{reader.id}")
    form = page.locator('form[data-manage="grant"]')
    form.locator('select[name="scope_kind"]').select_option("site")
    expect(form.locator('select[name="site_id"]')).to_be_visible()
    expect(form.locator('select[name="tenant_id"]')).to_be_hidden()
    # Tenant-only roles are not offered on a site.
    expect(form.locator('select[name="role"] option[value="partner_admin"]')).to_be_disabled()
    form.locator('select[name="site_id"]').select_option(str(world.alpha.room.id))
    form.locator('select[name="role"]').select_option("operator")
    form.locator('button[type="submit"]').click()

    grants = page.locator("#grants tbody tr")
    expect(grants).to_have_count(2)
    new_grant = grants.filter(has_text=f"Alpha Raum {ALPHA_MARK}")
    expect(new_grant).to_be_visible()

    new_grant.locator('button[type="submit"]').click()
    confirm_dialog(page)
    expect(page.locator("#grants tbody tr")).to_have_count(1)
    expect(page.locator("#grants")).not_to_contain_text(f"Alpha Raum {ALPHA_MARK}")


def test_create_and_revoke_an_api_token(page: Page, world, login, shot, portal_url) -> None:  # type: ignore[no-untyped-def]
    login(page, ADMIN, next_url="/manage/tokens")
    form = page.locator('form[data-manage="token"]')
    form.locator('input[name="name"]').fill("Warenwirtschaft")
    form.locator('select[name="expires_in_days"]').select_option("90")
    form.locator('button[type="submit"]').click()

    secret = page.locator("#new-token-value")
    expect(secret).to_have_value(re.compile(r"^lst_"))
    token = secret.input_value()
    row = page.locator('tr[data-token="Warenwirtschaft"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("device.read")
    expect(row).not_to_contain_text("device.write")  # only the read permissions were ticked
    shot(page, "manage-tokens")

    api = page.request
    assert api.get(f"{portal_url}/api/v1/devices", headers={"Authorization": f"Bearer {token}"}).status == 200
    # Shown once: after a reload the token is nowhere on the page.
    page.reload()
    expect(page.locator("#new-token")).to_be_hidden()
    assert token not in page.content()

    page.locator('tr[data-token="Warenwirtschaft"] button[type="submit"]').click()
    confirm_dialog(page)
    expect(page.locator('tr[data-token="Warenwirtschaft"] .badge.muted')).to_be_visible()
    expect(page.locator('tr[data-token="Warenwirtschaft"] button')).to_have_count(0)
    assert api.get(f"{portal_url}/api/v1/devices", headers={"Authorization": f"Bearer {token}"}).status == 401


def test_switch_off_automatic_renewal(page: Page, world, login) -> None:  # type: ignore[no-untyped-def]
    license_id = world.alpha.license.id
    login(page, ADMIN, next_url="/manage/licenses")
    switch = page.locator(f'tr[data-device="{world.alpha.barrier.serial_number}"] input[name="auto_renew"]')
    expect(switch).to_be_checked()
    switch.uncheck()
    expect(page.locator(".toast.ok")).to_be_visible()

    page.reload()
    expect(switch).not_to_be_checked()
    history = page.locator(f'tr[data-device="{world.alpha.barrier.serial_number}"] .manage-history')
    history.locator("summary").click()
    expect(history.locator("li")).to_have_count(2)  # created, then cancelled
    assert page.request.get(f"/api/v1/licenses/{license_id}").json()["auto_renew"] is False


def test_the_audit_log_shows_the_actions_just_taken(page: Page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    login(page, ADMIN, next_url="/manage/licenses")
    page.locator(f'tr[data-device="{world.alpha.barrier.serial_number}"] input[name="auto_renew"]').uncheck()
    expect(page.locator(".toast.ok")).to_be_visible()
    page.goto("/manage/tokens")
    page.locator('form[data-manage="token"] input[name="name"]').fill("Audit probe")
    page.locator('form[data-manage="token"] button[type="submit"]').click()
    expect(page.locator("#new-token-value")).to_have_value(re.compile(r"^lst_"))

    page.goto("/manage/audit")
    filters = page.locator("form.manage-audit-filters")
    filters.locator('select[name="actor_user_id"]').select_option(str(world.users["alpha_admin"].id))
    filters.locator('select[name="action"]').select_option("licenses.update")
    filters.locator('button[type="submit"]').click()
    expect(page).to_have_url(re.compile(r"action=licenses\.update"))
    rows = page.locator("#audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(ADMIN)
    rows.first.locator("details summary").click()
    expect(rows.first.locator("dl")).to_contain_text("auto_renew")
    export = page.locator('a[href*="/api/v1/audit/export"][href*="format=csv"]')
    expect(export).to_have_attribute("href", re.compile(r"action=licenses\.update"))
    filtered_export = export.get_attribute("href") or ""

    # Free text finds the token just made, whatever its action's name.
    filters.locator('select[name="action"]').select_option("")
    filters.locator('input[name="q"]').fill("api_tokens")
    filters.locator('button[type="submit"]').click()
    expect(page.locator("#audit tbody tr").filter(has_text="api_tokens.create")).to_have_count(1)
    shot(page, "audit")

    csv = page.request.get(filtered_export).text()
    assert "licenses.update" in csv and "api_tokens.create" not in csv
