"""The pages behind "Forgot your password?" and the links of reset and invitation mails.

The browser tests follow a mail the SMTP sink caught from the link to a successful login, in
German; the others check the pages over HTTP: their language, refused links, and that a token
in the URL goes nowhere but to our own API.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from leitstand.access.models import RoleGrant
from leitstand.access.roles import ScopeKind
from leitstand.clock import clock
from tests.portal.conftest import new_context
from tests.helpers.mail import link_to, mailed_invitation_link, mailed_reset_link

READER = "reader@alpha.test"
INVITED = "greta@example.com"
NEW_PASSWORD = "a brand new passphrase"
GERMAN = {"accept-language": "de-DE,de;q=0.9"}
ENGLISH = {"accept-language": "en-GB,en;q=0.9"}


def confirm_reset(client, token: str, password: str = NEW_PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": password})


# --- Over HTTP ----------------------------------------------------------------------------


def test_the_login_page_links_to_the_forgotten_password_page(world) -> None:  # type: ignore[no-untyped-def]
    login = world.client.get("/login", headers=GERMAN)
    asked = world.client.get("/password-reset", headers=GERMAN)

    assert '<a href="/password-reset">Passwort vergessen?</a>' in login.text
    assert asked.status_code == 200
    assert "Link senden" in asked.text and 'id="reset-request-form"' in asked.text


@pytest.mark.parametrize(("headers", "heading"), [(GERMAN, "Neues Passwort festlegen"), (ENGLISH, "Set a new password")])
def test_a_mailed_reset_link_opens_the_page_for_a_new_password(world, smtp, headers, heading) -> None:  # type: ignore[no-untyped-def]
    link = mailed_reset_link(world.client, smtp, READER)

    page = world.client.get(link.relative, headers=headers)

    assert page.status_code == 200, page.text
    assert f"<h1>{heading}</h1>" in page.text
    assert READER in page.text
    assert 'data-endpoint="/api/v1/auth/password-reset/confirm"' in page.text
    assert link.token not in page.text  # the page's script reads it from the address, so no copy sits in the HTML


def test_a_mailed_invitation_link_opens_the_page_to_choose_a_password(world, smtp) -> None:  # type: ignore[no-untyped-def]
    _, link = mailed_invitation_link(world, smtp, INVITED)

    page = world.client.get(link.relative, headers=GERMAN)

    assert page.status_code == 200, page.text
    assert "<h1>Willkommen bei Leitstand</h1>" in page.text
    assert f"Hallo Greta Neu, wählen Sie das Passwort für Ihr Konto {INVITED}." in page.text
    assert 'data-endpoint="/api/v1/auth/invitation/accept"' in page.text


def test_opening_a_link_does_not_use_it_up(world, smtp) -> None:  # type: ignore[no-untyped-def]
    link = mailed_reset_link(world.client, smtp, READER)

    assert world.client.get(link.relative).status_code == 200
    assert world.client.get(link.relative).status_code == 200  # a mail client's preview, then the person
    assert confirm_reset(world.client, link.token).status_code == 204


@pytest.mark.parametrize("path", ["/password-reset", "/invitation"])
def test_an_unknown_link_gets_a_clear_page_with_the_way_to_a_new_one(world, path) -> None:  # type: ignore[no-untyped-def]
    page = world.client.get(f"{path}?token=made-up", headers=GERMAN)

    assert page.status_code == 400
    assert "<h1>Dieser Link ist nicht mehr gültig</h1>" in page.text
    assert '<a class="btn primary block" href="/password-reset">Neuen Link anfordern</a>' in page.text
    assert "Nicht gefunden" not in page.text


def test_a_used_or_expired_link_gets_the_same_page(world, smtp, settings) -> None:  # type: ignore[no-untyped-def]
    used = mailed_reset_link(world.client, smtp, READER)
    assert confirm_reset(world.client, used.token).status_code == 204
    clock.freeze()
    expired = mailed_reset_link(world.client, smtp, READER)
    clock.advance(timedelta(hours=settings.email_token_hours, minutes=1))

    for link in (used, expired):
        page = world.client.get(link.relative, headers=ENGLISH)
        assert page.status_code == 400
        assert "<h1>This link is no longer valid</h1>" in page.text


def test_pages_with_a_token_in_the_address_send_no_referrer_and_are_not_stored(world, smtp) -> None:  # type: ignore[no-untyped-def]
    link = mailed_reset_link(world.client, smtp, READER)

    for path in (link.relative, "/invitation?token=made-up", "/password-reset"):
        page = world.client.get(path)
        assert page.headers["referrer-policy"] == "no-referrer", path
        assert page.headers["cache-control"] == "no-store", path


# --- In the browser, in German ---------------------------------------------------------------


@pytest.fixture
def german_page(browser, portal_url):  # type: ignore[no-untyped-def]
    context = new_context(browser, portal_url, locale="de-DE")
    yield context.new_page()
    context.close()


def requests_made(page) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    """(URL, Referer) of every request the page makes from now on."""
    seen: list[tuple[str, str | None]] = []
    page.on("request", lambda request: seen.append((request.url, request.headers.get("referer"))))
    return seen


def assert_the_token_went_only_to_our_server(requests: list[tuple[str, str | None]], portal_url: str, token: str) -> None:
    assert requests, "the page made no requests"
    assert all(url.startswith(portal_url + "/") for url, _ in requests), requests
    # The page's own address holds the token; nothing the page loads or sends repeats it.
    assert not any(token in (referer or "") for _, referer in requests), requests
    assert [url for url, _ in requests if token in url] == [portal_url + f"/password-reset?token={token}"], requests


def set_password(page, password: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("Neues Passwort", exact=True).fill(password)
    page.get_by_label("Neues Passwort wiederholen").fill(password)
    page.get_by_role("button", name="Passwort speichern").click()


def log_in(page, email: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("E-Mail").fill(email)
    page.get_by_label("Passwort", exact=True).fill(password)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("navigation", name="Hauptnavigation")).to_be_visible()


def test_a_reset_mail_leads_to_a_login_with_the_new_password(german_page, world, smtp, portal_url, shot) -> None:  # type: ignore[no-untyped-def]
    page = german_page
    page.goto("/login")
    page.get_by_role("link", name="Passwort vergessen?").click()
    page.get_by_label("E-Mail").fill(READER)
    page.get_by_role("button", name="Link senden").click()
    expect(page.get_by_role("heading", name="Sehen Sie in Ihr Postfach")).to_be_visible()
    link = link_to(smtp, READER)

    requests = requests_made(page)
    page.goto(link.relative)
    expect(page.get_by_role("heading", name="Neues Passwort festlegen")).to_be_visible()
    shot(page, "password-reset")
    # The rule for passwords is the server's: the page shows the code of its refusal in German.
    common = "password1234"
    assert confirm_reset(world.client, link.token, common).json()["errors"][0]["type"] == "password-too-common"
    set_password(page, common)
    expect(page.get_by_role("alert")).to_have_text(
        "Das Passwort wurde nicht angenommen: Dieses Passwort ist verbreitet oder wurde bei einem Datenleck bekannt; "
        "wählen Sie ein anderes.")
    set_password(page, NEW_PASSWORD)

    expect(page).to_have_url(re.compile(r"/login\?done=password-reset$"))
    expect(page.get_by_role("status")).to_have_text("Ihr neues Passwort ist gesetzt. Melden Sie sich damit an.")
    log_in(page, READER, NEW_PASSWORD)
    assert_the_token_went_only_to_our_server(requests, portal_url, link.token)


def test_an_invitation_mail_leads_to_a_login(german_page, world, smtp, shot) -> None:  # type: ignore[no-untyped-def]
    user_id, link = mailed_invitation_link(world, smtp, INVITED)
    world.db.add(RoleGrant(user_id=user_id, tenant_id=world.alpha.customer.id, role="read_only",
                           scope_kind=ScopeKind.tenant, scope_tenant_id=world.alpha.customer.id))
    world.db.commit()
    page = german_page

    page.goto(link.relative)
    expect(page.get_by_role("heading", name="Willkommen bei Leitstand")).to_be_visible()
    shot(page, "invitation")
    set_password(page, NEW_PASSWORD)

    expect(page).to_have_url(re.compile(r"/login\?done=invitation$"))
    expect(page.get_by_role("status")).to_have_text("Ihr Passwort ist gesetzt. Willkommen: Melden Sie sich jetzt damit an.")
    log_in(page, INVITED, NEW_PASSWORD)
    expect(page.locator(".user-menu")).to_contain_text("Greta Neu")
    # Used up: the mail's link now explains itself instead of offering the form again.
    page.goto(link.relative)
    expect(page.get_by_role("heading", name="Dieser Link ist nicht mehr gültig")).to_be_visible()
