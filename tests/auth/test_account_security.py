"""The own account's security (issue 14, item 1): what an API token may do under /me, fresh
re-authentication before the password or a second factor changes, an authenticator app that
is never replaced silently, and a mail and an audit entry for every such change."""

from __future__ import annotations

from datetime import timedelta
from email.header import decode_header, make_header

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select

from leitstand.accounts.models import User
from leitstand.audit.models import AuditEntry
from leitstand.auth.models import ApiToken, YubiKey
from leitstand.clock import clock
from leitstand.web.deps import CSRF_HEADER
from tests.helpers.mail import text_of
from tests.helpers.soft_authenticator import SoftAuthenticator
from tests.helpers.world import PASSWORD, ApiClient
from tests.helpers.yubikey import SoftYubiKey

ORIGIN = "http://localhost:8000"
READER = "reader@alpha.test"
NEW_PASSWORD = "a much longer passphrase"
PUSH = {"endpoint": "https://push.attacker.example/sub/1", "keys": {"p256dh": "B" * 87, "auth": "A" * 22}}
# Longer than the 10 minutes a login counts as fresh, well within the hour a session may idle.
STALE = timedelta(minutes=11)


def assert_problem(response, status: int, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(f"/{kind}")


def signed_in(app, email: str = READER) -> tuple[TestClient, dict[str, str]]:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url=ORIGIN)
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200 and not response.json()["second_factor_required"], response.text
    return client, {CSRF_HEADER: response.json()["csrf_token"]}


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=30 * steps_ahead))


def enrol_totp(client: TestClient, headers: dict[str, str]) -> str:
    """An authenticator app from a fresh login; the clock must be frozen. Returns its secret."""
    secret = client.post("/api/v1/me/totp/setup", headers=headers).json()["secret"]
    response = client.post("/api/v1/me/totp", json={"secret": secret, "code": totp_code(secret)}, headers=headers)
    assert response.status_code == 204, response.text
    return secret


def reader(db) -> User:  # type: ignore[no-untyped-def]
    db.rollback()  # see what the app committed
    user = db.scalar(select(User).where(User.email == READER))
    assert user is not None
    return user


# --- API tokens under /me -----------------------------------------------------------------


def test_a_device_read_token_changes_nothing_of_its_owners_account(world, app, system_db):
    """The attacks of the issue: a token scoped to device.read alone sets and deletes the TOTP,
    revokes the other tokens, registers a push endpoint of its choosing, edits the profile."""
    clock.freeze()
    enrol_totp(*signed_in(app))
    narrow = world.as_user("alpha_reader", scopes=["device.read"])
    other_token = system_db.scalar(select(ApiToken).where(ApiToken.user_id == world.users["alpha_reader"].id))
    secret = pyotp.random_base32()

    attempts = {
        "set the TOTP": narrow.post("/api/v1/me/totp", json={"secret": secret, "code": totp_code(secret)}),
        "delete the TOTP": narrow.delete("/api/v1/me/totp"),
        "revoke a token": narrow.delete(f"/api/v1/me/tokens/{other_token.id}"),
        "add a push endpoint": narrow.post("/api/v1/me/push-subscriptions", json=PUSH),
        "change the profile": narrow.patch("/api/v1/me", json={"display_name": "Mallory"}),
        "list the tokens": narrow.get("/api/v1/me/tokens"),
    }

    for attempt, response in attempts.items():
        assert response.status_code == 403, f"{attempt}: {response.status_code} {response.text}"
        assert response.json()["type"].endswith("/forbidden"), attempt
    user = reader(system_db)
    assert user.has_totp and user.display_name != "Mallory"
    assert system_db.get(ApiToken, other_token.id).revoked_at is None
    assert narrow.get("/api/v1/devices").status_code == 200  # what its scope names, it still does


def test_a_token_cannot_change_the_password_even_knowing_the_current_one(world, app):
    for scopes in (["device.read"], ["device.read", "token.own", "account"]):
        token = world.as_user("alpha_reader", scopes=scopes)

        response = token.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})

        assert_problem(response, 403, "forbidden")
    assert world.client.post("/api/v1/auth/login", json={"email": READER, "password": PASSWORD}).status_code == 200


def test_the_account_scope_opens_profile_tokens_and_push_but_never_the_sign_in(world, app):
    token = world.as_user("alpha_reader", scopes=["device.read", "account"])

    assert token.get("/api/v1/me").status_code == 200
    assert token.patch("/api/v1/me", json={"language": "en"}).status_code == 200
    assert token.get("/api/v1/me/tokens").status_code == 200
    assert token.post("/api/v1/me/push-subscriptions", json=PUSH).status_code == 201
    for method, path in (("POST", "/api/v1/me/totp/setup"), ("DELETE", "/api/v1/me/totp"), ("GET", "/api/v1/me/yubikeys"),
                         ("POST", "/api/v1/me/webauthn/options"), ("POST", "/api/v1/me/reauthenticate")):
        response = token.request(method, path, json={"password": PASSWORD} if path.endswith("reauthenticate") else None)
        assert_problem(response, 403, "forbidden")
        assert "API token" in response.json()["detail"]


def test_a_browser_makes_a_token_with_the_account_scope(world, app):
    client, headers = signed_in(app)

    created = client.post("/api/v1/me/tokens", json={"name": "Rotation", "scopes": ["account"]}, headers=headers)

    assert created.status_code == 201, created.text
    assert created.json()["scopes"] == ["account"]
    token = ApiClient(world.client, created.json()["token"])
    assert token.get("/api/v1/me/tokens").status_code == 200
    assert_problem(token.get("/api/v1/devices"), 403, "forbidden")


def test_the_api_documents_which_own_account_routes_refuse_tokens(world, app):
    paths = world.client.get("/api/v1/openapi.json").json()["paths"]

    assert paths["/api/v1/me/password"]["post"]["x-api-token-scope"] is None
    assert paths["/api/v1/me/password"]["post"]["x-reauthentication"] is True
    assert paths["/api/v1/me/totp"]["delete"]["x-api-token-scope"] is None
    assert paths["/api/v1/me/tokens"]["get"]["x-api-token-scope"] == "account"
    assert paths["/api/v1/me/tokens"]["get"]["x-reauthentication"] is False
    assert "API tokens: refused" in paths["/api/v1/me/yubikeys"]["post"]["description"]


# --- fresh re-authentication ------------------------------------------------------------


def test_removing_the_authenticator_app_needs_password_and_code_after_ten_minutes(world, app):
    clock.freeze()
    client, headers = signed_in(app)
    secret = enrol_totp(client, headers)
    clock.advance(STALE)

    refused = client.delete("/api/v1/me/totp", headers=headers)
    password_only = client.post("/api/v1/me/reauthenticate", json={"password": PASSWORD}, headers=headers)
    confirmed = client.post("/api/v1/me/reauthenticate", json={"password": PASSWORD, "totp_code": totp_code(secret, 1)},
                            headers=headers)
    headers = {CSRF_HEADER: confirmed.json()["csrf_token"]}
    removed = client.delete("/api/v1/me/totp", headers=headers)

    assert_problem(refused, 403, "reauthentication-required")
    assert refused.json()["methods"] == ["totp"]
    assert_problem(password_only, 403, "bad-credentials")
    assert confirmed.status_code == 200, confirmed.text
    assert removed.status_code == 204, removed.text
    assert client.get("/api/v1/me").json()["second_factors"] == []


def test_changing_the_password_needs_a_fresh_login_or_reauthentication(world, app):
    clock.freeze()
    client, headers = signed_in(app)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    clock.advance(STALE)

    refused = client.post("/api/v1/me/password", json=body, headers=headers)
    confirmed = client.post("/api/v1/me/reauthenticate", json={"password": PASSWORD}, headers=headers)
    changed = client.post("/api/v1/me/password", json=body, headers={CSRF_HEADER: confirmed.json()["csrf_token"]})

    assert_problem(refused, 403, "reauthentication-required")
    assert refused.json()["methods"] == []
    assert changed.status_code == 204, changed.text
    assert world.client.post("/api/v1/auth/login", json={"email": READER, "password": NEW_PASSWORD}).status_code == 200


def test_every_change_of_a_second_factor_needs_freshness(world, app, system_db):
    clock.freeze()
    client, headers = signed_in(app)
    key = SoftYubiKey.generate()
    yubikey = {"name": "YubiKey", "private_id": key.private_id.hex(), "aes_key": key.aes_key.hex(), "otp": key.otp()}
    assert client.post("/api/v1/me/yubikeys", json=yubikey, headers=headers).status_code == 201
    key_id = system_db.scalar(select(YubiKey.id))
    clock.advance(STALE)
    secret = pyotp.random_base32()

    for method, path, body in (
        ("POST", "/api/v1/me/totp", {"secret": secret, "code": totp_code(secret)}),
        ("POST", "/api/v1/me/yubikeys", {**yubikey, "otp": key.otp()}),
        ("DELETE", f"/api/v1/me/yubikeys/{key_id}", None),
        ("POST", "/api/v1/me/webauthn/options", None),
    ):
        response = client.request(method, path, json=body, headers=headers)
        assert_problem(response, 403, "reauthentication-required")
        assert response.json()["methods"] == ["yubico_otp"], path
    # A YubiKey OTP confirms it too, and one used up cannot confirm again.
    otp = key.otp()
    confirmed = client.post("/api/v1/me/reauthenticate", json={"password": PASSWORD, "yubico_otp": otp}, headers=headers)
    replayed = client.post("/api/v1/me/reauthenticate", json={"password": PASSWORD, "yubico_otp": otp},
                           headers={CSRF_HEADER: confirmed.json()["csrf_token"]})
    assert confirmed.status_code == 200, confirmed.text
    assert_problem(replayed, 403, "bad-credentials")


def test_a_security_key_confirms_a_reauthentication_and_nothing_else(world, app):
    clock.freeze()
    client, headers = signed_in(app)
    authenticator = SoftAuthenticator(ORIGIN)
    started = client.post("/api/v1/me/webauthn/options", headers=headers).json()
    registered = client.post("/api/v1/me/webauthn", headers=headers, json={
        "name": "Schlüssel", "credential": authenticator.create(started["options"]), "state": started["state"]})
    assert registered.status_code == 201, registered.text
    clock.advance(STALE)
    assert client.delete("/api/v1/me/totp", headers=headers).json()["methods"] == ["webauthn"]

    challenge = client.post("/api/v1/me/reauthenticate/webauthn-options", headers=headers).json()
    assertion = {"credential": authenticator.get(challenge["options"]), "state": challenge["state"]}
    login = TestClient(app, base_url=ORIGIN)
    pending = login.post("/api/v1/auth/login", json={"email": READER, "password": PASSWORD}).json()
    as_login = login.post("/api/v1/auth/login/webauthn", json=assertion, headers={CSRF_HEADER: pending["csrf_token"]})
    here = client.post("/api/v1/me/reauthenticate", json={"password": PASSWORD, "webauthn": assertion}, headers=headers)

    assert_problem(as_login, 401, "second-factor-refused")  # the challenge was this session's re-authentication
    assert here.status_code == 200, here.text


def test_wrong_reauthentications_count_like_failed_logins(world, app):
    clock.freeze()
    client, headers = signed_in(app)
    for _ in range(3):
        assert_problem(client.post("/api/v1/me/reauthenticate", json={"password": "not the password"}, headers=headers),
                       403, "bad-credentials")

    throttled = client.post("/api/v1/me/reauthenticate", json={"password": PASSWORD}, headers=headers)

    assert_problem(throttled, 429, "login-throttled")


def test_an_authenticator_app_is_never_replaced_silently(world, app):
    clock.freeze()
    client, headers = signed_in(app)
    first = enrol_totp(client, headers)
    second = pyotp.random_base32()

    replaced = client.post("/api/v1/me/totp", json={"secret": second, "code": totp_code(second)}, headers=headers)

    assert_problem(replaced, 409, "conflict")
    clock.advance(timedelta(seconds=30))
    login = TestClient(app, base_url=ORIGIN)
    pending = login.post("/api/v1/auth/login", json={"email": READER, "password": PASSWORD}).json()
    done = login.post("/api/v1/auth/login/totp", json={"code": totp_code(first)}, headers={CSRF_HEADER: pending["csrf_token"]})
    assert done.status_code == 200, done.text


# --- mails and audit ------------------------------------------------------------------------


def test_every_change_of_password_second_factor_or_token_is_mailed(world, app, smtp):
    """In the owner's language (the reader's is German)."""
    clock.freeze()
    client, headers = signed_in(app)
    key = SoftYubiKey.generate()
    token = client.post("/api/v1/me/tokens", json={"name": "ERP", "scopes": ["device.read"]}, headers=headers).json()
    assert client.delete(f"/api/v1/me/tokens/{token['id']}", headers=headers).status_code == 204
    enrol_totp(client, headers)
    assert client.delete("/api/v1/me/totp", headers=headers).status_code == 204
    yubikey = {"name": "Schlüsselbund", "private_id": key.private_id.hex(), "aes_key": key.aes_key.hex(), "otp": key.otp()}
    key_id = client.post("/api/v1/me/yubikeys", json=yubikey, headers=headers).json()["id"]
    assert client.delete(f"/api/v1/me/yubikeys/{key_id}", headers=headers).status_code == 204
    changed = client.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                          headers=headers)
    assert changed.status_code == 204, changed.text

    mails = smtp.to(READER)

    assert [str(make_header(decode_header(mail["Subject"]))) for mail in mails] == ["Ihr Leitstand-Konto wurde geändert"] * 7
    texts = [text_of(mail) for mail in mails]
    for text, change in zip(texts, (
        "Das API-Token „ERP“ wurde erstellt.", "Das API-Token „ERP“ wurde widerrufen.",
        "Eine Authenticator-App wurde als zweiter Faktor eingerichtet.",
        "Die Authenticator-App wurde als zweiter Faktor entfernt.",
        "Der YubiKey „Schlüsselbund“ wurde für Einmalpasswörter hinzugefügt.", "Der YubiKey „Schlüsselbund“ wurde entfernt.",
        "Ihr Passwort wurde geändert.",
    ), strict=True):
        assert change in text, text
        assert "http://localhost:8000/account" in text


def test_a_password_set_through_a_reset_link_is_mailed(world, app, smtp):
    from tests.helpers.mail import mailed_reset_link

    link = mailed_reset_link(world.client, smtp, READER)
    smtp.messages.clear()

    confirmed = world.client.post("/api/v1/auth/password-reset/confirm", json={"token": link.token, "password": NEW_PASSWORD})

    assert confirmed.status_code == 204, confirmed.text
    [mail] = smtp.to(READER)
    assert "Ihr Passwort wurde geändert." in text_of(mail)


def test_account_changes_are_audited_with_their_actor(world, app, system_db):
    clock.freeze()
    client, headers = signed_in(app)
    enrol_totp(client, headers)
    clock.advance(STALE)
    wrong = client.post("/api/v1/me/reauthenticate", json={"password": "not the password"}, headers=headers)
    assert wrong.status_code == 403
    user = reader(system_db)

    entries = system_db.scalars(select(AuditEntry).where(AuditEntry.actor_user_id == user.id).order_by(AuditEntry.id)).all()

    enrolled = [e for e in entries if e.action == "users.update" and "totp_secret_encrypted" in e.changes]
    assert enrolled and enrolled[0].changes["totp_secret_encrypted"] == "<changed>"
    assert enrolled[0].actor == READER and enrolled[0].tenant_id == user.tenant_id
    [failed] = [e for e in entries if e.action == "auth.reauthentication"]
    assert failed.outcome == "failure" and failed.source_ip
