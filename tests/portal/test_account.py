"""The account page: profile, password, second factors, through the self-service API."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
from playwright.sync_api import expect
from sqlalchemy import update

from leitstand.auth.models import LoginSession
from leitstand.clock import clock
from tests.helpers.world import PASSWORD
from tests.helpers.yubikey import SoftYubiKey


def open_account(page, world, login, user_key: str = "alpha_admin", email: str = "admin@alpha.test") -> None:  # type: ignore[no-untyped-def]
    assert world.as_user(user_key).patch("/api/v1/me", json={"language": "en"}).status_code == 200
    login(page, email, next_url="/account")
    expect(page.get_by_role("heading", name="My account")).to_be_visible()


def test_the_account_page_shows_profile_password_and_second_factors(page, phone_page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    open_account(page, world, login)
    for heading in ("Profile", "Password", "Authenticator app", "Security keys", "YubiKey OTP", "API tokens"):
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_label("Display name")).to_have_value(world.users["alpha_admin"].display_name)
    shot(page, "account")

    login(phone_page, "admin@alpha.test", next_url="/account")
    expect(phone_page.get_by_role("heading", name="My account")).to_be_visible()
    shot(phone_page, "account-phone")


def test_setting_up_and_removing_an_authenticator_app(page, world, login) -> None:  # type: ignore[no-untyped-def]
    open_account(page, world, login)
    page.get_by_text("Set up an authenticator app").click()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.locator("#totp-form").get_by_role("button", name="Confirm").click()

    totp_card = page.locator("#totp")
    expect(totp_card.locator(".badge")).to_have_text("Set up")
    assert "totp" in world.as_user("alpha_admin").get("/api/v1/me").json()["second_factors"]

    totp_card.get_by_role("button", name="Remove").click()
    page.locator("#confirm-dialog").get_by_role("button", name="OK").click()
    expect(totp_card.locator(".badge")).to_have_text("Not set up")
    assert "totp" not in world.as_user("alpha_admin").get("/api/v1/me").json()["second_factors"]


def test_changing_display_name_and_password(page, world, login) -> None:  # type: ignore[no-untyped-def]
    open_account(page, world, login)
    page.get_by_label("Display name").fill("Alex Admin")
    page.locator("#profile-form").get_by_role("button", name="Save").click()
    expect(page.locator(".toast")).to_have_text("Saved.")
    page.reload()
    expect(page.locator(".user-menu summary")).to_contain_text("Alex Admin")

    form = page.locator("#password-form")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_label("New password", exact=True).fill("a much better secret")
    form.get_by_label("Repeat the new password").fill("a different secret")
    form.get_by_role("button", name="Change password").click()
    assert form.get_by_label("Repeat the new password").evaluate("field => field.validity.customError")

    form.get_by_label("Repeat the new password").fill("a much better secret")
    form.get_by_role("button", name="Change password").click()
    expect(page.locator(".toast.ok")).to_contain_text("Password changed")
    relogin = world.client.post("/api/v1/auth/login", json={"email": "admin@alpha.test", "password": "a much better secret"})
    assert relogin.status_code == 200


def add_yubikey(page, key: SoftYubiKey) -> None:  # type: ignore[no-untyped-def]
    """On the open account page, add the key as "Keyring" and see it listed."""
    page.get_by_text("Add a YubiKey for one-time passwords").click()
    form = page.locator("#yubikey-form")
    form.get_by_label("Name").fill("Keyring")
    form.get_by_label("Private identity (12 hex digits)").fill(key.private_id.hex())
    form.get_by_label("Secret key (32 hex digits)").fill(key.aes_key.hex())
    form.get_by_label("One-time password").fill(key.otp())
    form.get_by_role("button", name="Add YubiKey").click()
    expect(page.locator("#yubikeys tbody")).to_contain_text("Keyring")


def test_a_yubikey_added_on_the_account_page_completes_the_next_login(page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    key = SoftYubiKey.generate()
    open_account(page, world, login)
    add_yubikey(page, key)

    page.context.clear_cookies()
    page.goto("/login")
    page.get_by_label("E-mail").fill("admin@alpha.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("One-time password").fill(key.otp())
    page.locator("#yubico-form").get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_recovery_codes_made_on_the_account_page_complete_a_login(page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    open_account(page, world, login)
    add_yubikey(page, SoftYubiKey.generate())  # codes are offered only beside a second factor
    card = page.locator("#recovery-codes")
    expect(card.locator(".badge")).to_have_text("0 left")

    card.get_by_role("button", name="Create recovery codes").click()
    codes = card.locator("#new-recovery-codes-list li")
    expect(codes).to_have_count(10)
    expect(card.locator(".badge")).to_have_text("10 left")
    expect(card).to_contain_text("They are shown only this once")
    shot(page, "account-recovery-codes")
    code = codes.first.inner_text()

    page.context.clear_cookies()
    page.goto("/login")
    page.get_by_label("E-mail").fill("admin@alpha.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Use a recovery code").click()
    page.get_by_label("Recovery code").fill(code.lower().replace("-", " "))
    page.locator("#recovery-code-form").get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/$"))
    page.goto("/account")
    expect(page.locator("#recovery-codes .badge")).to_have_text("9 left")


# --- confirming it is you, and the session's time ---------------------------------------------


def make_stale() -> None:
    """The browser's login becomes older than the 10 minutes it counts as fresh for (the server's clock)."""
    clock.freeze()
    clock.advance(timedelta(minutes=11))


def test_removing_a_yubikey_later_asks_for_password_and_key_first(page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    key = SoftYubiKey.generate()
    open_account(page, world, login)
    add_yubikey(page, key)
    make_stale()

    page.locator("#yubikeys").get_by_role("button", name="Remove").click()
    page.locator("#confirm-dialog").get_by_role("button", name="OK").click()
    dialog = page.locator("#reauth-dialog")
    expect(dialog.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    expect(dialog.get_by_label("One-time password of your YubiKey (touch it)")).to_be_visible()
    dialog.get_by_label("Password", exact=True).fill("not my password")
    dialog.get_by_label("One-time password of your YubiKey (touch it)").fill(key.otp())
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog.get_by_role("alert")).to_have_text("The password or the second factor is wrong.")
    shot(page, "account-reauthentication")
    dialog.get_by_label("Password", exact=True).fill(PASSWORD)
    dialog.get_by_label("One-time password of your YubiKey (touch it)").fill(key.otp())
    dialog.get_by_role("button", name="Confirm").click()

    expect(dialog).to_be_hidden()
    expect(page.locator("#yubikeys .badge")).to_have_text("0")
    assert world.as_user("alpha_admin").get("/api/v1/me").json()["second_factors"] == []


def test_a_password_change_later_asks_for_the_password_only_without_a_second_factor(page, world, login) -> None:  # type: ignore[no-untyped-def]
    open_account(page, world, login)
    make_stale()
    form = page.locator("#password-form")
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_label("New password", exact=True).fill("a much better secret")
    form.get_by_label("Repeat the new password").fill("a much better secret")
    form.get_by_role("button", name="Change password").click()

    dialog = page.locator("#reauth-dialog")
    expect(dialog.get_by_label("Password", exact=True)).to_be_visible()
    expect(dialog.locator("#reauth-code-field")).to_be_hidden()
    dialog.get_by_label("Password", exact=True).fill(PASSWORD)
    dialog.get_by_role("button", name="Confirm").click()

    expect(page.locator(".toast.ok")).to_contain_text("Password changed")
    relogin = world.client.post("/api/v1/auth/login", json={"email": "admin@alpha.test", "password": "a much better secret"})
    assert relogin.status_code == 200


def test_the_user_menu_counts_down_the_session_and_warns_before_it_ends(page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    page.clock.install()
    open_account(page, world, login)
    page.locator(".user-menu summary").click()
    expect(page.locator("#session-clock")).to_have_text("Session: 60 min left")

    # 56 minutes pass without the user doing anything (server and browser alike).
    world.db.execute(update(LoginSession).values(last_seen_at=clock.now() - timedelta(minutes=56)))
    world.db.commit()
    page.clock.fast_forward("56:00")
    warning = page.locator("#session-warning")
    expect(warning).to_contain_text("Your session ends in 4 min without activity.")
    shot(page, "session-warning")
    warning.get_by_role("button", name="Stay logged in").click()
    expect(warning).to_be_hidden()
    expect(page.locator("#session-clock")).to_have_text("Session: 60 min left")

    world.db.execute(update(LoginSession).values(last_seen_at=clock.now() - timedelta(minutes=61)))
    world.db.commit()
    page.clock.fast_forward("01:01:00")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faccount$"))


def test_the_account_page_lists_the_sessions_and_logs_out_the_others(page, phone_page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    login(phone_page, "admin@alpha.test")
    open_account(page, world, login)
    sessions = page.locator("#sessions tbody tr")
    expect(sessions).to_have_count(2)
    this_one = sessions.filter(has_text="This session")
    expect(this_one).to_have_count(1)
    expect(this_one).to_contain_text("Chrome")  # the browser by name, not its whole user agent
    shot(page, "account-sessions")

    sessions.filter(has_not_text="This session").get_by_role("button", name="Log out").click()
    page.locator("#confirm-dialog").get_by_role("button", name="OK").click()
    expect(sessions).to_have_count(1)
    phone_page.goto("/account")
    expect(phone_page).to_have_url(re.compile(r"/login\?next=(%2F|/)account$"))

    login(phone_page, "admin@alpha.test")
    page.reload()
    expect(sessions).to_have_count(2)
    page.get_by_role("button", name="Log out all other sessions").click()
    page.locator("#confirm-dialog").get_by_role("button", name="OK").click()
    expect(sessions).to_have_count(1)
    expect(sessions).to_contain_text("This session")
    phone_page.goto("/account")
    expect(phone_page).to_have_url(re.compile(r"/login\?next=(%2F|/)account$"))
