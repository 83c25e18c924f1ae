"""The login page: password and second factor through the JSON API, errors, language, and where it leads."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from leitstand.portal.login import safe_next
from leitstand.web.deps import CSRF_HEADER
from tests.helpers.world import PASSWORD


def enrol_totp(world, user_key: str) -> str:  # type: ignore[no-untyped-def]
    """Give a world user an authenticator app through the self-service API, from a fresh login (an
    API token may not manage second factors); returns its secret.

    It is confirmed with the previous time step's code, so the current one is still unused for the login.
    """
    client = TestClient(world.app, base_url="http://localhost:8000")
    logged_in = client.post("/api/v1/auth/login", json={"email": world.users[user_key].email, "password": PASSWORD})
    assert logged_in.status_code == 200, logged_in.text
    headers = {CSRF_HEADER: logged_in.json()["csrf_token"]}
    setup = client.post("/api/v1/me/totp/setup", headers=headers)
    assert setup.status_code == 200, setup.text
    secret = setup.json()["secret"]
    code = pyotp.TOTP(secret).at(time.time() - 30)
    confirmed = client.post("/api/v1/me/totp", json={"secret": secret, "code": code}, headers=headers)
    assert confirmed.status_code == 204, confirmed.text
    return secret


def use_english(world, user_key: str) -> None:  # type: ignore[no-untyped-def]
    assert world.as_user(user_key).patch("/api/v1/me", json={"language": "en"}).status_code == 200


# --- In the browser -------------------------------------------------------------------


def test_login_with_totp_lands_on_the_dashboard(page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    secret = enrol_totp(world, "alpha_reader")
    use_english(world, "alpha_reader")
    page.goto("/login")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shot(page, "login")

    page.get_by_label("E-mail").fill("reader@alpha.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    code = page.get_by_label("Code from your authenticator app")
    expect(code).to_be_visible()
    shot(page, "login-second-factor")
    code.fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("navigation", name="Main navigation")).to_be_visible()
    expect(page.locator(".user-menu")).to_contain_text("reader@alpha.test".split("@")[0], ignore_case=True)


def test_a_wrong_password_shows_an_error_and_stays_on_the_login_page(page, world) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.get_by_label("E-mail").fill("admin@alpha.test")
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("E-mail or password is wrong.")
    expect(page).to_have_url(re.compile(r"/login"))


def test_login_returns_to_the_page_asked_for(page, world, login) -> None:  # type: ignore[no-untyped-def]
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next=/account"))
    page.get_by_label("E-mail").fill("admin@alpha.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Log in|Anmelden")).click()
    expect(page).to_have_url(re.compile(r"/account$"))


def test_a_user_without_the_required_second_factor_is_sent_to_enrol(page, world, system_db) -> None:  # type: ignore[no-untyped-def]
    world.users["alpha_reader"].language = "en"
    world.alpha.customer.require_second_factor = True
    system_db.commit()
    page.goto("/login")
    page.get_by_label("E-mail").fill("reader@alpha.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/account\?enrol=1$"))
    expect(page.locator("#enrol-notice")).to_contain_text("requires a second factor")
    # Every other page leads back here until a second factor is set up.
    page.goto("/devices")
    expect(page).to_have_url(re.compile(r"/account\?enrol=1$"))


def test_switching_the_language_changes_the_texts_and_is_kept_for_the_user(page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    login(page, "admin@alpha.test")  # world users start in German
    navigation = page.get_by_role("navigation")
    expect(navigation.get_by_role("link", name="Übersicht")).to_be_visible()
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="English").click()
    expect(navigation.get_by_role("link", name="Overview")).to_be_visible()
    shot(page, "overview-english")

    assert world.as_user("alpha_admin").get("/api/v1/me").json()["language"] == "en"
    page.context.clear_cookies()  # a new browser, the same user: still English
    login(page, "admin@alpha.test")
    expect(navigation.get_by_role("link", name="Overview")).to_be_visible()

    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Deutsch").click()
    expect(navigation.get_by_role("link", name="Übersicht")).to_be_visible()
    page.locator(".user-menu summary").click()
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()


def test_the_login_page_speaks_the_browsers_language_and_switches(browser, portal_url) -> None:  # type: ignore[no-untyped-def]
    from tests.portal.conftest import new_context

    context = new_context(browser, portal_url, locale="de-DE")
    page = context.new_page()
    page.goto("/login")
    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()  # the cookie keeps the choice
    context.close()


def test_logging_out_ends_the_session(page, world, login) -> None:  # type: ignore[no-untyped-def]
    login(page, "admin@alpha.test")
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Abmelden").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/devices")
    expect(page).to_have_url(re.compile(r"/login\?next=/devices$"))


# --- Without a browser ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/devices", "/account", "/sites?state=online"])
def test_anonymous_page_requests_go_to_the_login_page(client, path) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/")
    assert "state%3Donline" in response.headers["location"] or "?" not in path


def test_anonymous_htmx_requests_get_a_full_page_redirect(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/devices", headers={"HX-Request": "true"}, follow_redirects=False)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login?next=/devices"


@pytest.mark.parametrize(("asked", "expected"), [
    ("/devices/12?tab=events", "/devices/12?tab=events"),
    ("/", "/"),
    (None, "/"),
    ("https://evil.example/", "/"),
    ("//evil.example/path", "/"),
    ("/\\evil.example", "/"),
    ("/%2F%2Fevil.example", "/"),
    ("/%5Cevil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("devices", "/"),
    ("/login?next=/login", "/"),
    ("/ok\r\nSet-Cookie: x=1", "/"),
])
def test_next_only_leads_to_pages_of_this_site(asked, expected) -> None:  # type: ignore[no-untyped-def]
    assert safe_next(asked) == expected


def test_the_login_page_never_carries_a_foreign_next(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login", params={"next": "//evil.example/"})
    assert page.status_code == 200
    assert 'data-next="/"' in page.text
    assert "evil.example" not in page.text


def test_a_signed_in_user_on_the_login_page_goes_on_to_next(client, world) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/api/v1/auth/login", json={"email": "admin@alpha.test", "password": PASSWORD}).status_code == 200
    response = client.get("/login", params={"next": "/devices"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/devices"
