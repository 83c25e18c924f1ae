"""Every password field of the portal can be shown, to check what was typed (ASVS 2.1.12).

The "Show" toggle sits in the field; the field is masked again when its form is sent or reset.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.helpers.mail import mailed_reset_link
from tests.helpers.world import PASSWORD

READER = "reader@alpha.test"


def assert_can_be_shown(page, field_id: str) -> None:  # type: ignore[no-untyped-def]
    field = page.locator(f"#{field_id}")
    toggle = page.locator(f'button[aria-controls="{field_id}"]')
    expect(field).to_have_attribute("type", "password")

    toggle.click()
    expect(field).to_have_attribute("type", "text")
    expect(toggle).to_have_text("Hide")

    toggle.click()
    expect(field).to_have_attribute("type", "password")
    expect(toggle).to_have_text("Show")


def test_the_login_and_account_password_fields_can_be_shown(page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    assert world.as_user("alpha_reader").patch("/api/v1/me", json={"language": "en"}).status_code == 200
    page.goto("/login")
    page.locator("input[name=email]").fill(READER)
    page.locator("#login-password").fill("a mistyped password")
    assert_can_be_shown(page, "login-password")
    page.locator('button[aria-controls="login-password"]').click()
    expect(page.locator("#login-password")).to_have_value("a mistyped password")
    shot(page, "login-password-shown")
    # A refused attempt keeps the page, so the field can be seen masked again once it was sent.
    page.locator("#password-step button[type=submit]").click()
    expect(page.locator("#login-error")).to_be_visible()
    expect(page.locator("#login-password")).to_have_attribute("type", "password")

    page.locator("#login-password").fill(PASSWORD)
    page.locator("#password-step button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)

    page.goto("/account")
    for field_id in ("current-password", "new-password", "repeat-password"):
        assert_can_be_shown(page, field_id)
    expect(page.locator("#reauth-dialog button[aria-controls=reauth-password]")).to_have_count(1)


def test_the_new_password_of_a_reset_link_can_be_shown(page, world, smtp) -> None:  # type: ignore[no-untyped-def]
    link = mailed_reset_link(world.client, smtp, READER)
    page.goto(link.relative)
    for field_id in ("new-password", "repeat-password"):
        assert_can_be_shown(page, field_id)
