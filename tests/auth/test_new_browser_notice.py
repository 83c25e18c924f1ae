"""A login completed in a browser the account was never used in is mailed to its owner (ASVS 2.2.3).
Browsers are told apart by a long-lived random cookie, not by address or browser name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header

from sqlalchemy import select

from leitstand.auth.known_browsers import BROWSER_COOKIE, SECURE_BROWSER_COOKIE
from leitstand.auth.models import KnownBrowser
from leitstand.clock import clock
from tests.auth.test_account_security import enrol_totp, signed_in, totp_code
from tests.auth.test_login_api import browser, cookie_attributes, csrf, https_app, login  # noqa: F401 - https_app: a fixture
from tests.helpers.mail import text_of

READER = "reader@alpha.test"
FIREFOX = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}


def subjects(mails) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(make_header(decode_header(mail["Subject"]))) for mail in mails]


def test_a_login_from_a_new_browser_is_mailed_and_one_from_a_known_browser_is_not(world, app, smtp):
    clock.freeze(datetime(2026, 12, 4, 8, 30, tzinfo=UTC))
    at_the_desk = browser(app)
    assert login(at_the_desk).status_code == 200  # the account's first known browser: nothing to compare with
    assert login(at_the_desk).status_code == 200  # the same browser again
    assert smtp.to(READER) == []

    elsewhere = browser(app)
    elsewhere.headers.update(FIREFOX)
    assert login(elsewhere).status_code == 200
    assert login(elsewhere).status_code == 200  # known from now on

    [mail] = smtp.to(READER)  # the reader's language is German
    assert subjects([mail]) == ["Neue Anmeldung bei Ihrem Leitstand-Konto"]
    text = text_of(mail)
    assert "Zeit: 04.12.2026, 09:30 MEZ" in text, text
    assert "Von der Adresse: testclient" in text
    assert f"Browser: {FIREFOX['user-agent']}" in text
    assert "http://localhost:8000/account" in text


def test_only_a_completed_login_makes_a_browser_known(world, app, smtp, system_db):
    clock.freeze(datetime(2026, 12, 4, 8, 30, tzinfo=UTC))
    client, headers = signed_in(app)
    secret = enrol_totp(client, headers)
    smtp.messages.clear()

    stranger = browser(app)
    password_step = login(stranger)
    assert password_step.json()["second_factor_required"] is True
    assert smtp.to(READER) == []  # the password alone is not a login
    clock.advance(timedelta(seconds=30))
    completed = stranger.post("/api/v1/auth/login/totp", json={"code": totp_code(secret)}, headers=csrf(password_step))
    assert completed.status_code == 200, completed.text

    assert subjects(smtp.to(READER)) == ["Neue Anmeldung bei Ihrem Leitstand-Konto"]
    system_db.rollback()
    user_id = world.users["alpha_reader"].id
    assert len(system_db.scalars(select(KnownBrowser).where(KnownBrowser.user_id == user_id)).all()) == 2


def test_the_browser_cookie_is_http_only_and_only_its_hash_is_stored(world, app, system_db):
    client = browser(app)
    response = login(client)

    attributes = cookie_attributes(response, BROWSER_COOKIE)
    assert "httponly" in attributes and attributes["samesite"] == "lax" and attributes["path"] == "/"
    assert int(attributes["max-age"]) == 400 * 24 * 3600
    raw = client.cookies[BROWSER_COOKIE]
    system_db.rollback()
    stored = system_db.scalars(select(KnownBrowser.token_hash)).all()
    assert stored and raw not in stored


def test_behind_https_the_browser_cookie_is_a_host_cookie(world, https_app):  # noqa: F811 - the fixture
    response = login(browser(https_app, "https://localhost:8000"))

    attributes = cookie_attributes(response, SECURE_BROWSER_COOKIE)
    assert "secure" in attributes and "domain" not in attributes and attributes["path"] == "/"


def test_no_mail_when_the_notice_is_switched_off(world, settings, session_factory, smtp):
    from leitstand.runtime import app_without_transports

    with app_without_transports(settings.model_copy(update={"new_browser_notice": False})) as quiet:
        assert login(browser(quiet)).status_code == 200
        assert login(browser(quiet)).status_code == 200
    assert smtp.to(READER) == []
