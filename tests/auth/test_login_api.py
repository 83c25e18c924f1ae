"""Password login as a browser sees it: the session cookie, CSRF, logout, back-off (and
no lockout; throttling from many addresses is in test_login_throttle.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leitstand.audit.models import AuditEntry
from leitstand.auth.models import LoginSession
from leitstand.clock import clock
from leitstand.runtime import app_without_transports
from leitstand.web.deps import CSRF_HEADER, SECURE_SESSION_COOKIE, SESSION_COOKIE
from tests.helpers.world import PASSWORD

READER = "reader@alpha.test"


def browser(app, base_url: str = "http://localhost:8000") -> TestClient:
    """A fresh browser with its own cookie jar."""
    return TestClient(app, base_url=base_url)


def login(client: TestClient, email: str = READER, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def csrf(login_response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {CSRF_HEADER: login_response.json()["csrf_token"]}


def login_patiently(client: TestClient, email: str, password: str):  # type: ignore[no-untyped-def]
    """Log in like a client that honours Retry-After while the account is in back-off."""
    response = login(client, email, password)
    while response.status_code == 429 and response.json()["type"].endswith("/login-throttled"):
        clock.advance(timedelta(seconds=int(response.headers["Retry-After"])))
        response = login(client, email, password)
    return response


def assert_problem(response, status: int, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(f"/{kind}")


def cookie_attributes(response, name: str = SESSION_COOKIE) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The session cookie's Set-Cookie attributes, lower-cased: {"httponly": "", "samesite": "lax", ...}."""
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))
    attributes = {}
    for part in header.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attributes[name.lower()] = value.lower()
    return attributes


def reread(db) -> None:  # type: ignore[no-untyped-def]
    """End the test's database snapshot, so what the app committed is visible."""
    db.rollback()


@pytest.fixture
def https_app(settings, session_factory) -> Iterator:  # type: ignore[no-untyped-def]
    with app_without_transports(settings.model_copy(update={"public_url": "https://localhost:8000"})) as application:
        yield application


# --- the session cookie ---------------------------------------------------------


def test_password_login_sets_an_http_only_lax_session_cookie(world, app):
    client = browser(app)

    response = login(client)

    assert response.status_code == 200
    body = response.json()
    assert body["second_factor_required"] is False and body["methods"] == []
    assert body["user_id"] == world.users["alpha_reader"].id
    attributes = cookie_attributes(response)
    assert "httponly" in attributes
    assert attributes["samesite"] == "lax"
    assert "secure" not in attributes  # the installation runs on plain http
    assert attributes["path"] == "/"


def test_session_cookie_is_secure_when_the_public_url_is_https(world, https_app):
    response = login(browser(https_app, "https://localhost:8000"))

    assert response.status_code == 200
    attributes = cookie_attributes(response, SECURE_SESSION_COOKIE)
    assert "secure" in attributes and "httponly" in attributes and attributes["samesite"] == "lax"


def test_behind_https_the_session_cookie_is_a_host_cookie_that_only_this_host_sets(world, https_app):
    client = browser(https_app, "https://localhost:8000")

    response = login(client)

    # __Host-: the browser keeps it only if Secure, path / and without a Domain (ASVS 3.4.4).
    assert SESSION_COOKIE not in client.cookies
    attributes = cookie_attributes(response, SECURE_SESSION_COOKIE)
    assert attributes["path"] == "/" and "domain" not in attributes and "secure" in attributes
    assert client.get("/api/v1/me").json()["email"] == READER


def test_behind_https_a_cookie_under_the_plain_name_is_not_a_session(world, https_app):
    client = browser(https_app, "https://localhost:8000")
    login(client)
    planted = browser(https_app, "https://localhost:8000")
    # A sibling host could set the unprefixed name; it must not log anybody in.
    planted.cookies.set(SESSION_COOKIE, client.cookies[SECURE_SESSION_COOKIE])

    assert planted.get("/api/v1/me").status_code == 401


def test_logging_out_behind_https_deletes_the_host_cookie_as_secure(world, https_app):
    client = browser(https_app, "https://localhost:8000")
    csrf = login(client).json()["csrf_token"]

    response = client.post("/api/v1/auth/logout", headers={CSRF_HEADER: csrf})

    assert response.status_code == 204
    deletion = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SECURE_SESSION_COOKIE}="))
    assert "secure" in deletion.lower() and "max-age=0" in deletion.lower()
    assert client.get("/api/v1/me").status_code == 401


def test_the_session_cookie_authenticates_me(world, app):
    client = browser(app)
    logged_in = login(client)

    me = client.get("/api/v1/me")

    assert me.status_code == 200
    assert me.json()["email"] == READER
    assert me.json()["csrf_token"] == logged_in.json()["csrf_token"]


def test_only_a_hash_of_the_session_cookie_is_stored(world, app, system_db):
    client = browser(app)
    login(client)
    raw = client.cookies[SESSION_COOKIE]

    reread(system_db)
    stored = system_db.scalars(select(LoginSession.token_hash)).all()

    assert len(stored) == 1 and raw not in stored


def test_the_session_cookie_carries_at_least_256_random_bits(world, app):
    """ASVS 3.2.2/3.2.4: URL-safe base64 of 32 bytes from `secrets`; each login draws its own."""
    first, second = browser(app), browser(app)
    login(first)
    login(second)
    values = [client.cookies[SESSION_COOKIE] for client in (first, second)]

    for value in values:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", value), value
        assert len(value) * 6 >= 256
    assert values[0] != values[1]


def test_a_session_or_api_token_in_the_query_string_authenticates_nothing(world, app):
    """ASVS 3.1.1: the session travels only in its cookie and a token only in the Authorization header."""
    client = browser(app)
    login(client)
    session = client.cookies[SESSION_COOKIE]
    token = world.token_for("alpha_reader")
    anonymous = browser(app)

    for name, value in ((SESSION_COOKIE, session), ("session", session), ("token", token), ("access_token", token),
                        ("api_key", token), ("authorization", f"Bearer {token}")):
        assert_problem(anonymous.get("/api/v1/me", params={name: value}), 401, "unauthenticated")
    # The same secrets do work where they belong.
    assert client.get("/api/v1/me").status_code == 200
    assert anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_session_ends_after_the_configured_hours(world, app, settings):
    """However busy: the absolute limit holds while every request keeps the idle timeout away."""
    clock.freeze()
    client = browser(app)
    login(client)
    ends = clock.now() + timedelta(hours=settings.session_hours)

    while clock.now() + timedelta(minutes=30) < ends:
        clock.advance(timedelta(minutes=30))
        assert client.get("/api/v1/me").status_code == 200
    clock.advance(ends - clock.now() - timedelta(minutes=1))
    assert client.get("/api/v1/me").status_code == 200
    clock.advance(timedelta(minutes=1))

    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")


def test_without_a_cookie_or_token_me_is_refused(world, app):
    response = browser(app).get("/api/v1/me")

    assert_problem(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == "Bearer"


# --- refused logins -------------------------------------------------------------


def test_wrong_password_is_refused(world, app):
    client = browser(app)

    response = login(client, READER, "not the password")

    assert_problem(response, 401, "bad-credentials")
    assert SESSION_COOKIE not in client.cookies


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(world, app):
    wrong_password = login(browser(app), READER, "not the password")
    unknown_email = login(browser(app), "nobody@alpha.test", "not the password")

    assert_problem(unknown_email, 401, "bad-credentials")
    assert unknown_email.json() == wrong_password.json()


def test_email_is_matched_case_insensitively(world, app):
    assert login(browser(app), " Reader@ALPHA.test ").status_code == 200


def test_deactivated_user_cannot_log_in(world, app, system_db):
    world.users["alpha_reader"].is_active = False
    system_db.commit()

    response = login(browser(app))

    assert_problem(response, 401, "bad-credentials")
    assert response.json() == login(browser(app), "nobody@alpha.test").json()


def test_deactivating_a_user_ends_their_open_session(world, app, system_db):
    client = browser(app)
    login(client)
    world.users["alpha_reader"].is_active = False
    system_db.commit()

    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")


# --- logout ---------------------------------------------------------------------


def test_logout_ends_the_session(world, app, system_db):
    client = browser(app)
    headers = csrf(login(client))
    old_cookie = client.cookies[SESSION_COOKIE]

    response = client.post("/api/v1/auth/logout", headers=headers)

    assert response.status_code == 204
    assert cookie_attributes(response)["max-age"] == "0"
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")
    # The server forgot the session too: presenting the old cookie again does not help.
    replay = browser(app)
    replay.cookies.set(SESSION_COOKIE, old_cookie)
    assert_problem(replay.get("/api/v1/me"), 401, "unauthenticated")
    reread(system_db)
    assert system_db.scalars(select(LoginSession)).all() == []


def test_logout_needs_the_csrf_token(world, app):
    client = browser(app)
    login(client)

    assert_problem(client.post("/api/v1/auth/logout"), 403, "csrf")
    assert client.get("/api/v1/me").status_code == 200


def test_logout_ends_only_its_own_session(world, app):
    laptop, phone = browser(app), browser(app)
    laptop_csrf = csrf(login(laptop))
    login(phone)

    laptop.post("/api/v1/auth/logout", headers=laptop_csrf)

    assert phone.get("/api/v1/me").status_code == 200


# --- CSRF -----------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "wrong-token", "t\u00f6ken-\u00e4".encode("latin-1")], ids=["missing", "wrong", "not-ascii"])
def test_cookie_authenticated_changes_need_the_csrf_header(world, app, system_db, header):
    client = browser(app)
    login(client)
    headers = {CSRF_HEADER: header} if header else {}

    patch = client.patch("/api/v1/me", json={"language": "en"}, headers=headers)
    post = client.post("/api/v1/me/tokens", json={"name": "ERP", "scopes": ["device.read"]}, headers=headers)

    assert_problem(patch, 403, "csrf")
    assert_problem(post, 403, "csrf")
    reread(system_db)
    assert world.users["alpha_reader"].language == "de"
    assert client.get("/api/v1/me/tokens").json() == []


def test_cookie_authenticated_changes_work_with_the_login_csrf_token(world, app):
    client = browser(app)
    headers = csrf(login(client))

    patch = client.patch("/api/v1/me", json={"language": "en"}, headers=headers)
    post = client.post("/api/v1/me/tokens", json={"name": "ERP", "scopes": ["device.read"]}, headers=headers)

    assert patch.status_code == 200 and patch.json()["language"] == "en"
    assert post.status_code == 201


def test_csrf_token_of_another_session_is_refused(world, app):
    mine, theirs = browser(app), browser(app)
    login(mine)
    other_headers = csrf(login(theirs, "operator@alpha.test"))

    assert_problem(mine.patch("/api/v1/me", json={"language": "en"}, headers=other_headers), 403, "csrf")


def test_bearer_token_requests_need_no_csrf_header(world):
    api = world.as_user("alpha_reader")

    response = api.patch("/api/v1/me", json={"language": "en"})

    assert response.status_code == 200 and response.json()["language"] == "en"


# --- back-off -------------------------------------------------------------------


def test_after_three_failures_even_the_right_password_must_wait(world, app):
    clock.freeze()
    client = browser(app)
    for _ in range(3):
        assert_problem(login(client, READER, "guess"), 401, "bad-credentials")

    refused = login(client, READER, PASSWORD)

    assert_problem(refused, 429, "login-throttled")
    wait = int(refused.headers["Retry-After"])
    assert wait >= 1
    assert SESSION_COOKIE not in client.cookies
    clock.advance(timedelta(seconds=wait - 1))
    assert_problem(login(client, READER, PASSWORD), 429, "login-throttled")


def test_waiting_out_the_back_off_lets_the_right_password_in_and_resets_the_count(world, app):
    clock.freeze()
    client = browser(app)
    for _ in range(3):
        login(client, READER, "guess")
    clock.advance(timedelta(seconds=int(login(client, READER, PASSWORD).headers["Retry-After"])))

    assert login(client, READER, PASSWORD).status_code == 200

    # Counting starts over: the next three mistakes are answered at once, not throttled.
    for _ in range(3):
        assert_problem(login(client, READER, "guess"), 401, "bad-credentials")


def test_back_off_is_per_account(world, app):
    clock.freeze()
    for _ in range(3):
        login(browser(app), READER, "guess")

    assert login(browser(app), "operator@alpha.test").status_code == 200


def test_many_failures_slow_an_address_down_but_never_lock_the_account(world, app, settings):
    clock.freeze()
    client = browser(app)
    for _ in range(settings.login_account_alert_after + 5):
        assert_problem(login_patiently(client, READER, "guess"), 401, "bad-credentials")

    waiting = login(client, READER, PASSWORD)

    assert_problem(waiting, 429, "login-throttled")
    assert int(waiting.headers["Retry-After"]) <= 5 * 60
    assert login(TestClient(app, base_url="http://localhost:8000", client=("198.51.100.20", 443))).status_code == 200
    assert login_patiently(client, READER, PASSWORD).status_code == 200


def test_failed_logins_are_in_the_audit_log(world, app, system_db):
    login(browser(app), READER, "guess")
    login(browser(app), "nobody@alpha.test", "guess")

    reread(system_db)
    failures = system_db.scalars(
        select(AuditEntry).where(AuditEntry.action == "auth.login", AuditEntry.outcome == "failure").order_by(AuditEntry.id)
    ).all()

    assert [entry.actor for entry in failures] == [READER, "nobody@alpha.test"]
    assert all(entry.source_ip for entry in failures)
    assert failures[0].actor_user_id == world.users["alpha_reader"].id
    assert failures[1].actor_user_id is None
    assert "guess" not in str([entry.changes for entry in failures])


def test_throttled_attempts_are_in_the_audit_log(world, app, system_db):
    clock.freeze()
    client = browser(app)
    for _ in range(3):
        login(client, READER, "guess")
    login(client, READER, PASSWORD)

    reread(system_db)
    failed = select(AuditEntry.changes).where(AuditEntry.action == "auth.login", AuditEntry.outcome == "failure")
    reasons = system_db.scalars(failed.order_by(AuditEntry.id)).all()

    assert [r["reason"] for r in reasons] == ["bad credentials"] * 3 + ["throttled"]


# --- changing the password -----------------------------------------------------------


def test_changing_the_password_ends_the_other_sessions_but_keeps_this_one(world, app):
    this_browser, other_browser = browser(app), browser(app)
    this_login = login(this_browser)
    assert login(other_browser).status_code == 200

    response = this_browser.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "a brand new secret"},
        headers=csrf(this_login),
    )

    assert response.status_code == 204
    assert this_browser.get("/api/v1/me").status_code == 200
    assert_problem(other_browser.get("/api/v1/me"), 401, "unauthenticated")
    assert login(browser(app), READER, "a brand new secret").status_code == 200


def test_wrong_current_passwords_are_throttled_like_logins(world, app):
    clock.freeze()
    client = browser(app)
    headers = csrf(login(client))
    attempt = {"current_password": "not it", "new_password": "a brand new secret"}
    for _ in range(3):
        assert_problem(client.post("/api/v1/me/password", json=attempt, headers=headers), 403, "bad-credentials")

    right = {"current_password": PASSWORD, "new_password": "a brand new secret"}
    assert_problem(client.post("/api/v1/me/password", json=right, headers=headers), 429, "login-throttled")
