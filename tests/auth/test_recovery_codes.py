"""Recovery codes (OWASP ASVS 2.5.7, 2.6): made under /me like a second factor is changed, shown
once and stored as keyed digests; each completes one login in place of a lost second factor; and
the operator's reset for a user who lost the factor and every code."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from leitstand.accounts.models import User
from leitstand.audit.models import AuditEntry
from leitstand.audit.recorder import Actor
from leitstand.auth import recovery_codes
from leitstand.auth.models import LoginSession, RecoveryCode, WebAuthnKey, YubiKey
from leitstand.clock import clock
from leitstand.users.service import reset_second_factors
from leitstand.web.deps import CSRF_HEADER, SESSION_COOKIE
from tests.auth.test_second_factor_api import (READER, assert_problem, browser, enrol_totp, enrol_yubikey, signed_in,
                                               start_login)
from tests.helpers.mail import text_of
from tests.helpers.world import PASSWORD
from tests.helpers.yubikey import SoftYubiKey

GROUPED = re.compile(rf"^[{recovery_codes.ALPHABET}]{{5}}-[{recovery_codes.ALPHABET}]{{5}}$")
STALE = timedelta(minutes=11)


def reader(db) -> User:  # type: ignore[no-untyped-def]
    db.rollback()  # see what the app committed
    user = db.scalar(select(User).where(User.email == READER))
    assert user is not None
    return user


def with_codes(app) -> tuple[TestClient, dict[str, str], str, list[str]]:  # type: ignore[no-untyped-def]
    """The reader with an authenticator app and a fresh set of codes: (browser, CSRF header, TOTP secret, codes)."""
    clock.freeze()
    client, headers = signed_in(app)
    secret = enrol_totp(client, headers)
    created = client.post("/api/v1/me/recovery-codes", headers=headers)
    assert created.status_code == 201, created.text
    return client, headers, secret, created.json()["codes"]


def log_in_with(app, code: str):  # type: ignore[no-untyped-def]
    """A fresh browser's password step, then the recovery code: (its pending login result, the answer)."""
    client = browser(app)
    pending, headers = start_login(client)
    return pending, client.post("/api/v1/auth/login/recovery-code", json={"code": code}, headers=headers)


def failures(db, user: User) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    return list(db.scalars(select(AuditEntry).where(
        AuditEntry.actor_user_id == user.id, AuditEntry.action == "auth.second_factor", AuditEntry.outcome == "failure")))


def test_a_new_set_is_ten_codes_shown_once_and_stored_only_as_digests(world, app, system_db):
    client, headers, _secret, codes = with_codes(app)

    status = client.get("/api/v1/me/recovery-codes", headers=headers)

    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(GROUPED.match(code) for code in codes), codes
    assert status.status_code == 200
    assert status.json()["remaining"] == 10 and status.json()["created_at"] is not None
    assert "codes" not in status.json()  # never shown again
    rows = system_db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == reader(system_db).id)).all()
    stored = " ".join(f"{row.code_digest} {row.id}" for row in rows)
    assert len(rows) == 10 and all(re.fullmatch(r"[0-9a-f]{64}", row.code_digest) for row in rows)
    for code in codes:
        assert code not in stored and recovery_codes.normalised(code) not in stored


def test_a_new_set_replaces_the_old_one(world, app):
    client, headers, _secret, old = with_codes(app)

    new = client.post("/api/v1/me/recovery-codes", headers=headers).json()["codes"]

    assert set(new).isdisjoint(old)
    assert_problem(log_in_with(app, old[0])[1], 401, "second-factor-refused")
    assert log_in_with(app, new[0])[1].status_code == 200


def test_a_code_logs_in_once_whatever_its_spelling(world, app, system_db):
    client, headers, _secret, codes = with_codes(app)
    spelled = " " + codes[0].replace("-", " ").lower() + " "

    pending, done = log_in_with(app, spelled)
    _pending, again = log_in_with(app, codes[0])

    assert pending["methods"] == ["totp", "recovery_code"]
    assert done.status_code == 200, done.text
    assert done.json()["methods"] == ["recovery_code"] and done.json()["second_factor_required"] is False
    assert_problem(again, 401, "second-factor-refused")
    assert "already used" in again.json()["detail"]
    assert client.get("/api/v1/me/recovery-codes", headers=headers).json()["remaining"] == 9
    user = reader(system_db)
    [refused] = failures(system_db, user)
    assert refused.changes == {"method": "recovery_code", "reason": "This recovery code was already used."}
    used = system_db.scalars(select(AuditEntry).where(AuditEntry.action == "auth.recovery_code_used")).all()
    logins = system_db.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login",
                                                        AuditEntry.actor_user_id == user.id)).all()
    assert [entry.changes for entry in used] == [{"left": 9}]
    assert {"method": "recovery_code"} in [entry.changes for entry in logins]


def test_the_code_login_renews_the_session_and_makes_it_fresh(world, app):
    _client, _headers, _secret, codes = with_codes(app)
    client = browser(app)
    _pending, headers = start_login(client)
    half_done_cookie = client.cookies[SESSION_COOKIE]

    done = client.post("/api/v1/auth/login/recovery-code", json={"code": codes[1]}, headers=headers)
    fresh = {CSRF_HEADER: done.json()["csrf_token"]}

    assert done.status_code == 200, done.text
    assert done.json()["csrf_token"] != headers[CSRF_HEADER]
    assert client.cookies[SESSION_COOKIE] != half_done_cookie
    # Fresh enough to take the lost factor off at once, as a full login is.
    assert client.delete("/api/v1/me/totp", headers=fresh).status_code == 204


def test_wrong_codes_are_refused_audited_and_throttled_like_other_second_factors(world, app, system_db):
    with_codes(app)
    client = browser(app)
    _pending, headers = start_login(client)

    refused = [client.post("/api/v1/auth/login/recovery-code", json={"code": "AAAAA-AAAAA"}, headers=headers)
               for _ in range(3)]
    throttled = client.post("/api/v1/auth/login/recovery-code", json={"code": "AAAAA-AAAAA"}, headers=headers)
    malformed = client.post("/api/v1/auth/login/recovery-code", json={"code": "ABC"}, headers=headers)

    for response in refused:
        assert_problem(response, 401, "second-factor-refused")
    assert_problem(throttled, 429, "login-throttled")
    assert malformed.status_code == 422
    assert [entry.changes["reason"] for entry in failures(system_db, reader(system_db))] == ["The recovery code is wrong."] * 3


def test_codes_are_offered_only_beside_another_second_factor(world, app, system_db):
    client, headers, _secret, codes = with_codes(app)
    assert client.delete("/api/v1/me/totp", headers=headers).status_code == 204

    pending, _ = start_login(browser(app))
    without_factor = browser(app)
    refused = without_factor.post("/api/v1/auth/login/recovery-code", json={"code": codes[0]},
                                  headers=start_login(without_factor)[1])

    assert pending["second_factor_required"] is False and pending["methods"] == []
    assert_problem(refused, 401, "no-pending-login")  # the password alone completed that login
    assert_problem(client.post("/api/v1/me/recovery-codes", headers=headers), 409, "conflict")


def test_codes_are_not_offered_once_all_are_used(world, app):
    _client, _headers, _secret, codes = with_codes(app)
    for code in codes:
        assert log_in_with(app, code)[1].status_code == 200

    pending, _ = start_login(browser(app))

    assert pending["methods"] == ["totp"]


def test_making_codes_needs_freshness_and_a_browser_session(world, app):
    client, headers, secret, _codes = with_codes(app)
    clock.advance(STALE)
    token = world.as_user("alpha_operator", scopes=["account"])

    stale = client.post("/api/v1/me/recovery-codes", headers=headers)
    by_token = token.post("/api/v1/me/recovery-codes")

    assert_problem(stale, 403, "reauthentication-required")
    assert stale.json()["methods"] == ["totp"]  # a recovery code never confirms a re-authentication
    assert_problem(by_token, 403, "forbidden")
    assert_problem(token.get("/api/v1/me/recovery-codes"), 403, "forbidden")


def test_making_and_using_codes_is_mailed(world, app, smtp):
    """In the owner's language (the reader's is German)."""
    _client, _headers, _secret, codes = with_codes(app)
    smtp.messages.clear()

    assert log_in_with(app, codes[0])[1].status_code == 200

    used, new_browser = smtp.to(READER)  # the login was in a browser the account was not used in yet
    assert "in einem Browser angemeldet, in dem es noch nie benutzt wurde" in text_of(new_browser)
    assert "Zur Anmeldung wurde ein Wiederherstellungscode verwendet. Noch unbenutzte Wiederherstellungscodes: 9." \
        in text_of(used)


def test_a_new_set_is_mailed_and_audited(world, app, smtp, system_db):
    clock.freeze()
    client, headers = signed_in(app)
    enrol_totp(client, headers)
    smtp.messages.clear()

    assert client.post("/api/v1/me/recovery-codes", headers=headers).status_code == 201

    [mail] = smtp.to(READER)
    assert "Neue Wiederherstellungscodes wurden erstellt; frühere gelten nicht mehr." in text_of(mail)
    [entry] = system_db.scalars(select(AuditEntry).where(AuditEntry.action == "auth.recovery_codes_created")).all()
    assert entry.changes == {"codes": 10, "unused_replaced": 0} and entry.actor == READER


# --- the operator's reset -------------------------------------------------------------------------


def test_the_reset_removes_every_factor_and_code_ends_sessions_audits_and_mails(world, app, system_db, smtp):
    client, headers, _secret, _codes = with_codes(app)
    assert enrol_yubikey(client, headers, SoftYubiKey.generate()).status_code == 201
    smtp.messages.clear()
    user = reader(system_db)
    operator = Actor(None, None, "cli:ops")

    removed = reset_second_factors(system_db, world.app.state.settings, user, "ticket 4711, identity checked by video call",
                                   operator)
    system_db.commit()

    assert removed == {"totp": 1, "security_keys": 0, "yubikeys": 1, "recovery_codes": 10, "sessions": 1}
    user = reader(system_db)
    assert not user.has_totp
    for model in (WebAuthnKey, YubiKey, RecoveryCode, LoginSession):
        assert system_db.scalars(select(model).where(model.user_id == user.id)).all() == [], model
    assert client.get("/api/v1/me", headers=headers).status_code == 401  # the session ended
    pending, _ = start_login(browser(app))
    assert pending["second_factor_required"] is False  # the password alone, then a new factor
    [entry] = system_db.scalars(select(AuditEntry).where(AuditEntry.action == "auth.second_factor_reset")).all()
    assert entry.actor == "cli:ops" and entry.tenant_id == user.tenant_id and entry.target_id == str(user.id)
    assert entry.changes["reason"] == "ticket 4711, identity checked by video call"
    mail, _new_browser = smtp.to(READER)  # the reset, then the login in a browser new to the account
    assert "Angegebener Grund: ticket 4711, identity checked by video call." in text_of(mail)
