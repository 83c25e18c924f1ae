"""A user's own browser sessions (ASVS 3.3.4): listed under /me/sessions with when they started,
their last activity, the client address and the browser, and ended one by one or all others at
once. Ending one is audited; the session it ends is refused on its next request."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from leitstand.audit.models import AuditEntry
from leitstand.auth.models import LoginSession
from leitstand.auth.principal import ACCOUNT_SCOPE
from leitstand.clock import clock
from leitstand.permissions import Permission
from leitstand.web.deps import CSRF_HEADER
from tests.helpers.world import PASSWORD

ORIGIN = "http://localhost:8000"
READER = "reader@alpha.test"
OTHER_USER = "sitetech@alpha.test"  # of the same tenant
OFFICE_BROWSER = "Mozilla/5.0 (Windows NT 10.0) Firefox/140.0"
PHONE_BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0) Safari/605.1"


class Browser:
    """A browser logged in as one user, with its own cookie jar and CSRF token."""

    def __init__(self, app, user_agent: str = OFFICE_BROWSER, email: str = READER) -> None:  # type: ignore[no-untyped-def]
        self.client = TestClient(app, base_url=ORIGIN, headers={"user-agent": user_agent})
        response = self.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        self.csrf = {CSRF_HEADER: response.json()["csrf_token"]}

    def sessions(self) -> list[dict]:  # type: ignore[type-arg]
        response = self.client.get("/api/v1/me/sessions")
        assert response.status_code == 200, response.text
        return response.json()

    def end(self, path: str):  # type: ignore[no-untyped-def]
        return self.client.delete(f"/api/v1/me/sessions{path}", headers=self.csrf)

    def is_signed_in(self) -> bool:
        return self.client.get("/api/v1/me").status_code == 200


def ended_entries(db) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    db.rollback()  # see what the app committed
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == "auth.session_ended").order_by(AuditEntry.id)))


def test_a_user_sees_each_of_their_sessions_with_its_browser_and_address(world, app, system_db):
    office, phone = Browser(app), Browser(app, PHONE_BROWSER)
    Browser(app, email=OTHER_USER)  # another user's session is not theirs to see

    sessions = office.sessions()

    assert [s["user_agent"] for s in sessions] == [OFFICE_BROWSER, PHONE_BROWSER]
    assert [s["current"] for s in sessions] == [True, False]
    assert phone.sessions()[1]["current"] is True
    for listed in sessions:
        assert listed["source_ip"] == "testclient"  # what the test transport reports as the peer
        assert listed["started_at"] and listed["last_seen_at"]
        assert set(listed) == {"id", "started_at", "last_seen_at", "source_ip", "user_agent", "current"}


def test_a_session_that_has_ended_is_not_listed(world, app, system_db):
    office, phone = Browser(app), Browser(app, PHONE_BROWSER)
    phone_id = phone.sessions()[1]["id"]
    system_db.execute(update(LoginSession).where(LoginSession.id == phone_id).values(expires_at=clock.now()))
    system_db.commit()

    assert [s["user_agent"] for s in office.sessions()] == [OFFICE_BROWSER]


def test_ending_another_session_logs_that_browser_out_and_is_audited(world, app, system_db):
    office, phone = Browser(app), Browser(app, PHONE_BROWSER)
    phone_id = next(s["id"] for s in office.sessions() if not s["current"])

    assert office.end(f"/{phone_id}").status_code == 204

    assert not phone.is_signed_in()
    assert office.is_signed_in()
    assert [s["user_agent"] for s in office.sessions()] == [OFFICE_BROWSER]
    [entry] = ended_entries(system_db)
    assert entry.actor_user_id == world.users["alpha_reader"].id
    assert entry.target_id == str(phone_id)
    assert entry.changes["user_agent"] == PHONE_BROWSER


def test_ending_all_other_sessions_keeps_only_this_one(world, app, system_db):
    office, phone, laptop = Browser(app), Browser(app, PHONE_BROWSER), Browser(app, "curl/8.5")

    assert office.end("").status_code == 204

    assert not phone.is_signed_in() and not laptop.is_signed_in()
    assert [s["current"] for s in office.sessions()] == [True]
    assert len(ended_entries(system_db)) == 2


def test_the_current_session_is_ended_by_logging_out(world, app):
    office = Browser(app)
    own_id = office.sessions()[0]["id"]

    response = office.end(f"/{own_id}")

    assert response.status_code == 409
    assert office.is_signed_in()


def test_another_users_session_is_not_found(world, app, system_db):
    office, other = Browser(app), Browser(app, email=OTHER_USER)
    other_id = other.sessions()[0]["id"]

    assert office.end(f"/{other_id}").status_code == 404
    assert other.is_signed_in()
    assert ended_entries(system_db) == []


def test_ending_sessions_needs_the_csrf_token(world, app):
    office, phone = Browser(app), Browser(app, PHONE_BROWSER)

    assert office.client.delete("/api/v1/me/sessions").status_code == 403

    assert phone.is_signed_in()


def test_an_api_token_reaches_the_sessions_only_with_the_account_scope(world, app):
    phone = Browser(app, PHONE_BROWSER)
    phone_id = phone.sessions()[0]["id"]
    narrow = world.as_user("alpha_reader", scopes=[Permission.device_read.value])
    for method, path in (("GET", ""), ("DELETE", ""), ("DELETE", f"/{phone_id}")):
        assert narrow.request(method, f"/api/v1/me/sessions{path}").status_code == 403
    assert phone.is_signed_in()

    own_account = world.as_user("alpha_reader", scopes=[ACCOUNT_SCOPE])
    listed = own_account.get("/api/v1/me/sessions").json()
    assert [s["current"] for s in listed] == [False]  # a token is no session of its own
    assert own_account.request("DELETE", "/api/v1/me/sessions").status_code == 204
    assert not phone.is_signed_in()
