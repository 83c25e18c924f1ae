"""Browser sessions (issue 14, item 9): a new session id and CSRF token after each
authentication step, an idle timeout that slides on activity (but not on polls or the live
stream), and what the portal reads to show the time left."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from leitstand.auth.models import LoginSession
from leitstand.clock import clock
from leitstand.web.deps import CSRF_HEADER, SESSION_COOKIE
from tests.helpers.server import running_server
from tests.helpers.world import PASSWORD

ORIGIN = "http://localhost:8000"
READER = "reader@alpha.test"
BACKGROUND = {"x-leitstand-background": "1"}


def assert_problem(response, status: int, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.json()["type"].endswith(f"/{kind}")


def signed_in(app) -> tuple[TestClient, dict[str, str]]:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url=ORIGIN)
    response = client.post("/api/v1/auth/login", json={"email": READER, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client, {CSRF_HEADER: response.json()["csrf_token"]}


def with_cookie(app, cookie: str) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url=ORIGIN)
    client.cookies.set(SESSION_COOKIE, cookie)
    return client


def enrol_totp(app) -> str:  # type: ignore[no-untyped-def]
    client, headers = signed_in(app)
    secret = client.post("/api/v1/me/totp/setup", headers=headers).json()["secret"]
    code = pyotp.TOTP(secret).at(clock.now())
    assert client.post("/api/v1/me/totp", json={"secret": secret, "code": code}, headers=headers).status_code == 204
    clock.advance(timedelta(seconds=30))  # the enrolment used this step's code
    return secret


# --- a new session id and CSRF token per authentication step -------------------------------------


def test_the_second_factor_step_issues_a_new_session_and_csrf_token(world, app):
    clock.freeze()
    secret = enrol_totp(app)
    client = TestClient(app, base_url=ORIGIN)
    pending = client.post("/api/v1/auth/login", json={"email": READER, "password": PASSWORD})
    half_cookie, half_csrf = client.cookies[SESSION_COOKIE], pending.json()["csrf_token"]

    done = client.post("/api/v1/auth/login/totp", json={"code": pyotp.TOTP(secret).at(clock.now())},
                       headers={CSRF_HEADER: half_csrf})

    assert done.status_code == 200, done.text
    full_cookie, full_csrf = client.cookies[SESSION_COOKIE], done.json()["csrf_token"]
    assert full_cookie != half_cookie and full_csrf != half_csrf
    # Whoever knew the half-logged-in session (a planted cookie, a read CSRF token) holds nothing.
    assert_problem(with_cookie(app, half_cookie).get("/api/v1/me"), 401, "unauthenticated")
    assert_problem(client.patch("/api/v1/me", json={"language": "en"}, headers={CSRF_HEADER: half_csrf}), 403, "csrf")
    assert client.patch("/api/v1/me", json={"language": "en"}, headers={CSRF_HEADER: full_csrf}).status_code == 200


def test_a_reauthentication_issues_a_new_session_and_csrf_token(world, app):
    client, headers = signed_in(app)
    before = client.cookies[SESSION_COOKIE]

    confirmed = client.post("/api/v1/me/reauthenticate", json={"password": PASSWORD}, headers=headers)

    assert confirmed.status_code == 200, confirmed.text
    assert client.cookies[SESSION_COOKIE] != before and confirmed.json()["csrf_token"] != headers[CSRF_HEADER]
    assert_problem(with_cookie(app, before).get("/api/v1/me"), 401, "unauthenticated")
    assert_problem(client.patch("/api/v1/me", json={"language": "en"}, headers=headers), 403, "csrf")


def test_each_password_login_opens_a_session_of_its_own(world, app):
    client, headers = signed_in(app)
    first = client.cookies[SESSION_COOKIE]

    again = client.post("/api/v1/auth/login", json={"email": READER, "password": PASSWORD})

    assert client.cookies[SESSION_COOKIE] != first and again.json()["csrf_token"] != headers[CSRF_HEADER]


# --- idle timeout ---------------------------------------------------------------------------------


def test_a_session_left_alone_for_an_hour_ends(world, app):
    clock.freeze()
    client, _ = signed_in(app)

    clock.advance(timedelta(minutes=59))
    assert client.get("/api/v1/devices").status_code == 200
    clock.advance(timedelta(minutes=59))  # counted from the last use, not from the login
    assert client.get("/api/v1/devices").status_code == 200
    clock.advance(timedelta(minutes=60))

    response = client.get("/api/v1/devices")
    assert_problem(response, 401, "unauthenticated")
    assert "zu lange untätig" in response.json()["detail"]  # in the language the login left in its cookie


def test_the_idle_timeout_is_a_setting(world, app, settings):
    clock.freeze()
    settings.session_idle_minutes = 5
    client, _ = signed_in(app)

    clock.advance(timedelta(minutes=5))

    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")


def test_polls_do_not_keep_a_session_open(world, app):
    """The portal marks the requests nobody made by hand (polls, refreshes after a live update):
    only a request of the user's own moves the end."""
    clock.freeze()
    client, _ = signed_in(app)

    clock.advance(timedelta(minutes=25))
    assert client.get("/api/v1/devices", headers=BACKGROUND).status_code == 200
    clock.advance(timedelta(minutes=25))
    assert client.get("/api/v1/devices", headers=BACKGROUND).status_code == 200
    clock.advance(timedelta(minutes=25))

    assert_problem(client.get("/api/v1/devices", headers=BACKGROUND), 401, "unauthenticated")


def test_the_last_use_is_written_at_most_once_a_minute(world, app, system_db):
    clock.freeze()
    client, _ = signed_in(app)
    login_time = clock.now()

    def last_seen():  # type: ignore[no-untyped-def]
        system_db.rollback()
        return system_db.scalar(select(LoginSession.last_seen_at))

    clock.advance(timedelta(seconds=50))
    client.get("/api/v1/devices")
    assert last_seen() == login_time
    clock.advance(timedelta(seconds=20))
    client.get("/api/v1/devices")
    assert last_seen() == clock.now()


def test_the_session_says_when_it_ends_and_asking_is_no_activity(world, app):
    clock.freeze()
    client, _ = signed_in(app)
    clock.advance(timedelta(minutes=20))

    asked = client.get("/api/v1/me/session", headers=BACKGROUND).json()
    stayed = client.get("/api/v1/me/session").json()  # "Stay logged in": the user's own request

    assert asked["seconds_left"] == 40 * 60 and asked["idle_minutes"] == 60
    assert asked["fresh_until"] is None  # the login was 20 minutes ago
    assert stayed["seconds_left"] == 60 * 60


def test_an_api_token_has_no_session(world):
    assert_problem(world.as_user("alpha_reader").get("/api/v1/me/session"), 404, "not-found")


@pytest.fixture
def base_url(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with running_server(app) as url:
        yield url


def test_a_live_stream_ends_with_its_idle_session(world, app, base_url, system_db, settings):
    """A stream open in a tab nobody looks at does not keep the session alive: it stops when the
    session would end, and opening it again is refused then."""
    with httpx.Client(base_url=base_url, timeout=15) as client:
        assert client.post("/api/v1/auth/login", json={"email": READER, "password": PASSWORD}).status_code == 200
        # The session was last used so long ago that two seconds of its idle time are left.
        left_alone = clock.now() - timedelta(minutes=settings.session_idle_minutes) + timedelta(seconds=2)
        system_db.execute(update(LoginSession).values(last_seen_at=left_alone))
        system_db.commit()

        with client.stream("GET", "/api/v1/live") as stream:
            assert stream.status_code == 200
            lines = list(stream.iter_lines())  # returns once the server ends the stream

        assert lines[0].startswith(": connected")
        assert_problem(client.get("/api/v1/live"), 401, "unauthenticated")
