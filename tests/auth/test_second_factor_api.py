"""Second factors through the API: enrolment under /me, and the second login step.

TOTP apps, WebAuthn security keys (a software authenticator) and YubiKeys in Yubico
OTP mode (a software YubiKey); plus a tenant that requires a second factor.
"""

from __future__ import annotations

from datetime import timedelta

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select

from leitstand.audit.models import AuditEntry
from leitstand.clock import clock
from leitstand.web.deps import CSRF_HEADER
from tests.helpers.mail import mailed_reset_link
from tests.helpers.soft_authenticator import SoftAuthenticator, b64url_encode
from tests.helpers.world import PASSWORD
from tests.helpers.yubikey import SoftYubiKey

ORIGIN = "http://localhost:8000"
READER = "reader@alpha.test"
OTHER = "admin@alpha.test"


def browser(app) -> TestClient:  # type: ignore[no-untyped-def]
    """A fresh browser with its own cookie jar."""
    return TestClient(app, base_url=ORIGIN)


def start_login(client: TestClient, email: str = READER) -> tuple[dict, dict[str, str]]:
    """The password step: returns the login result and the CSRF header for what follows."""
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json(), {CSRF_HEADER: response.json()["csrf_token"]}


def signed_in(app, email: str = READER) -> tuple[TestClient, dict[str, str]]:  # type: ignore[no-untyped-def]
    """A browser logged in with the password only (the user has no second factor yet)."""
    client = browser(app)
    result, headers = start_login(client, email)
    assert result["second_factor_required"] is False
    return client, headers


def assert_problem(response, status: int, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(f"/{kind}")


def require_second_factor(world, db) -> None:  # type: ignore[no-untyped-def]
    """Alpha's customer tenant now demands a second factor of its users."""
    world.alpha.customer.require_second_factor = True
    db.commit()


# --- TOTP helpers ---


def totp_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(clock.now())


def wrong_totp_code(secret: str) -> str:
    """A well-formed code that matches neither this step nor its neighbours."""
    totp = pyotp.TOTP(secret)
    step = totp.timecode(clock.now())
    near = {totp.generate_otp(step + drift) for drift in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def enrol_totp(client: TestClient, headers: dict[str, str]) -> str:
    """Set up an authenticator app and return its secret. The clock must be frozen."""
    secret = client.post("/api/v1/me/totp/setup", headers=headers).json()["secret"]
    response = client.post("/api/v1/me/totp", json={"secret": secret, "code": totp_code(secret)}, headers=headers)
    assert response.status_code == 204, response.text
    # The enrolment used this step's code; a login needs the next one.
    clock.advance(timedelta(seconds=30))
    return secret


def send_totp(client: TestClient, headers: dict[str, str], code: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login/totp", json={"code": code}, headers=headers)


# --- WebAuthn helpers ---


def enrol_security_key(client: TestClient, headers: dict[str, str], authenticator: SoftAuthenticator) -> None:
    started = client.post("/api/v1/me/webauthn/options", headers=headers).json()
    credential = authenticator.create(started["options"])
    response = client.post(
        "/api/v1/me/webauthn", json={"name": "Schlüsselbund", "credential": credential, "state": started["state"]},
        headers=headers,
    )
    assert response.status_code == 201, response.text


def webauthn_challenge(client: TestClient, headers: dict[str, str]) -> dict:
    response = client.post("/api/v1/auth/login/webauthn/options", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def send_assertion(client: TestClient, headers: dict[str, str], credential: dict, state: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login/webauthn", json={"credential": credential, "state": state}, headers=headers)


def tampered(text: str) -> str:
    middle = len(text) // 2
    return text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]


# --- YubiKey helpers ---


def enrol_yubikey(  # type: ignore[no-untyped-def]
    client: TestClient, headers: dict[str, str], key: SoftYubiKey, otp: str | None = None
):
    """Register a YubiKey by its secrets and one OTP (a fresh one unless `otp` is given)."""
    secrets = {"private_id": key.private_id.hex(), "aes_key": key.aes_key.hex(), "otp": otp or key.otp()}
    return client.post("/api/v1/me/yubikeys", json={"name": "YubiKey 5", **secrets}, headers=headers)


def send_yubico_otp(client: TestClient, headers: dict[str, str], otp: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login/yubico-otp", json={"otp": otp}, headers=headers)


# --- TOTP -----------------------------------------------------------------------


def test_totp_enrolment_refuses_a_wrong_code(world, app):
    clock.freeze()
    client, headers = signed_in(app)
    secret = client.post("/api/v1/me/totp/setup", headers=headers).json()["secret"]

    response = client.post("/api/v1/me/totp", json={"secret": secret, "code": wrong_totp_code(secret)}, headers=headers)

    assert_problem(response, 422, "invalid")
    assert client.get("/api/v1/me").json()["second_factors"] == []


def test_totp_setup_offers_a_provisioning_uri_and_stores_nothing(world, app):
    client, headers = signed_in(app)

    setup = client.post("/api/v1/me/totp/setup", headers=headers).json()

    assert setup["provisioning_uri"].startswith("otpauth://totp/")
    assert setup["secret"] in setup["provisioning_uri"]
    assert client.get("/api/v1/me").json()["second_factors"] == []


def test_after_totp_enrolment_login_asks_for_the_code(world, app):
    clock.freeze()
    enrol_totp(*signed_in(app))
    client = browser(app)

    result, _ = start_login(client)

    assert result["second_factor_required"] is True
    assert result["methods"] == ["totp"]
    # The password alone opens nothing.
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")
    assert_problem(client.get("/api/v1/devices"), 401, "unauthenticated")


def test_the_right_totp_code_completes_the_login(world, app):
    clock.freeze()
    secret = enrol_totp(*signed_in(app))
    client = browser(app)
    _, headers = start_login(client)

    response = send_totp(client, headers, totp_code(secret))

    assert response.status_code == 200, response.text
    assert response.json()["second_factor_required"] is False
    assert response.json()["methods"] == ["totp"]
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["second_factors"] == ["totp"]


def test_the_totp_step_needs_the_csrf_token(world, app):
    clock.freeze()
    secret = enrol_totp(*signed_in(app))
    client = browser(app)
    start_login(client)

    assert_problem(send_totp(client, {}, totp_code(secret)), 403, "csrf")


def test_the_totp_step_needs_a_pending_login(world, app):
    clock.freeze()
    secret = enrol_totp(*signed_in(app))

    assert_problem(send_totp(browser(app), {}, totp_code(secret)), 401, "no-pending-login")


def used_code_and_second_browser(app):  # type: ignore[no-untyped-def]
    """A TOTP code that completed one login, and a second browser halfway through its own login."""
    secret = enrol_totp(*signed_in(app))
    code = totp_code(secret)
    first = browser(app)
    _, first_headers = start_login(first)
    assert send_totp(first, first_headers, code).status_code == 200
    second = browser(app)
    _, headers = start_login(second)
    return secret, code, second, headers


def test_a_totp_code_is_accepted_once(world, app):
    clock.freeze()
    secret, code, second, headers = used_code_and_second_browser(app)
    replay = send_totp(second, headers, code)

    assert_problem(replay, 401, "second-factor-refused")
    assert_problem(second.get("/api/v1/me"), 401, "unauthenticated")
    # The next code works.
    clock.advance(timedelta(seconds=30))
    assert send_totp(second, headers, totp_code(secret)).status_code == 200


def test_a_pending_login_expires(world, app, settings):
    clock.freeze()
    secret = enrol_totp(*signed_in(app))
    client = browser(app)
    _, headers = start_login(client)

    clock.advance(timedelta(minutes=settings.pending_login_minutes))

    assert_problem(send_totp(client, headers, totp_code(secret)), 401, "no-pending-login")


def test_wrong_totp_codes_count_towards_the_back_off(world, app):
    clock.freeze()
    secret = enrol_totp(*signed_in(app))
    client = browser(app)
    _, headers = start_login(client)
    for _ in range(3):
        assert_problem(send_totp(client, headers, wrong_totp_code(secret)), 401, "second-factor-refused")

    throttled = send_totp(client, headers, totp_code(secret))

    assert_problem(throttled, 429, "login-throttled")
    # The password step is throttled too: it is one count per account and client address.
    password_again = browser(app).post("/api/v1/auth/login", json={"email": READER, "password": PASSWORD})
    assert_problem(password_again, 429, "login-throttled")
    clock.advance(timedelta(seconds=int(throttled.headers["Retry-After"])))
    assert send_totp(client, headers, totp_code(secret)).status_code == 200


def test_a_totp_code_two_steps_old_is_refused(world, app):
    """ASVS 2.8.1: a code counts in its own 30-second step and one step either side, no longer."""
    clock.freeze()
    secret = enrol_totp(*signed_in(app))
    clock.advance(timedelta(minutes=5))  # well past the step the enrolment used up
    client = browser(app)
    _, headers = start_login(client)
    stale = pyotp.TOTP(secret).at(clock.now() - timedelta(seconds=60))
    assert stale not in {pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=30 * drift)) for drift in (-1, 0, 1)}

    assert_problem(send_totp(client, headers, stale), 401, "second-factor-refused")
    assert send_totp(client, headers, totp_code(secret)).status_code == 200


def test_refused_and_replayed_second_factors_are_in_the_audit_log(world, app, system_db):
    """ASVS 2.8.5: each refused code is recorded with its method, the reason and the client address."""
    clock.freeze()
    secret, code, second, headers = used_code_and_second_browser(app)

    assert_problem(send_totp(second, headers, code), 401, "second-factor-refused")
    assert_problem(send_totp(second, headers, wrong_totp_code(secret)), 401, "second-factor-refused")

    system_db.rollback()  # see what the app committed
    refused = list(system_db.scalars(select(AuditEntry).where(
        AuditEntry.action == "auth.second_factor", AuditEntry.outcome == "failure").order_by(AuditEntry.id)))
    assert [entry.changes["method"] for entry in refused] == ["totp", "totp"]
    assert "already used" in refused[0].changes["reason"]
    assert "wrong" in refused[1].changes["reason"]
    assert all(entry.actor_user_id == world.users["alpha_reader"].id and entry.source_ip for entry in refused)


def test_a_password_reset_keeps_the_second_factor(world, app, smtp):
    """ASVS 2.2.2: the mailed link replaces the password only; the next login still asks for the app."""
    clock.freeze()
    enrol_totp(*signed_in(app))
    link = mailed_reset_link(world.client, smtp, READER)
    new_password = "a brand new passphrase"
    confirmed = world.client.post("/api/v1/auth/password-reset/confirm", json={"token": link.token, "password": new_password})
    assert confirmed.status_code == 204, confirmed.text

    client = browser(app)
    response = client.post("/api/v1/auth/login", json={"email": READER, "password": new_password})

    assert response.status_code == 200, response.text
    assert response.json()["second_factor_required"] is True
    assert response.json()["methods"] == ["totp"]
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")


# --- WebAuthn -------------------------------------------------------------------


def test_security_key_registration_and_login(world, app):
    authenticator = SoftAuthenticator(ORIGIN)
    enrol_security_key(*signed_in(app), authenticator)
    client = browser(app)

    result, headers = start_login(client)
    challenge = webauthn_challenge(client, headers)
    response = send_assertion(client, headers, authenticator.get(challenge["options"]), challenge["state"])

    assert result["second_factor_required"] is True and result["methods"] == ["webauthn"]
    assert challenge["options"]["rpId"] == "localhost"
    assert response.status_code == 200, response.text
    assert client.get("/api/v1/me").json()["second_factors"] == ["webauthn"]


def test_registering_the_same_security_key_twice_is_prevented(world, app):
    authenticator = SoftAuthenticator(ORIGIN)
    client, headers = signed_in(app)
    enrol_security_key(client, headers, authenticator)

    options = client.post("/api/v1/me/webauthn/options", headers=headers).json()["options"]

    assert [entry["id"] for entry in options["excludeCredentials"]] == [b64url_encode(next(iter(authenticator.credentials)))]


def test_security_key_registration_with_a_tampered_state_is_refused(world, app):
    client, headers = signed_in(app)
    started = client.post("/api/v1/me/webauthn/options", headers=headers).json()
    credential = SoftAuthenticator(ORIGIN).create(started["options"])

    response = client.post(
        "/api/v1/me/webauthn", json={"name": "Key", "credential": credential, "state": tampered(started["state"])},
        headers=headers,
    )

    assert_problem(response, 422, "invalid")
    assert client.get("/api/v1/me/webauthn").json() == []


def test_security_key_login_with_a_tampered_state_is_refused(world, app):
    authenticator = SoftAuthenticator(ORIGIN)
    enrol_security_key(*signed_in(app), authenticator)
    client = browser(app)
    _, headers = start_login(client)
    challenge = webauthn_challenge(client, headers)

    response = send_assertion(client, headers, authenticator.get(challenge["options"]), tampered(challenge["state"]))

    assert_problem(response, 401, "second-factor-refused")
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")


def test_a_security_key_of_another_account_is_refused(world, app):
    mine, theirs = SoftAuthenticator(ORIGIN), SoftAuthenticator(ORIGIN)
    enrol_security_key(*signed_in(app), mine)
    enrol_security_key(*signed_in(app, OTHER), theirs)
    client = browser(app)
    _, headers = start_login(client)
    challenge = webauthn_challenge(client, headers)
    their_id = b64url_encode(next(iter(theirs.credentials)))

    assertion = theirs.get({**challenge["options"], "allowCredentials": [{"type": "public-key", "id": their_id}]})
    response = send_assertion(client, headers, assertion, challenge["state"])

    assert_problem(response, 401, "second-factor-refused")


def test_a_security_key_answering_for_another_site_is_refused(world, app):
    authenticator = SoftAuthenticator(ORIGIN)
    enrol_security_key(*signed_in(app), authenticator)
    client = browser(app)
    _, headers = start_login(client)
    challenge = webauthn_challenge(client, headers)

    authenticator.origin = "http://leitstand.phish.example"  # the page that relayed the challenge
    response = send_assertion(client, headers, authenticator.get(challenge["options"]), challenge["state"])

    assert_problem(response, 401, "second-factor-refused")


def test_a_replayed_assertion_is_refused(world, app):
    authenticator = SoftAuthenticator(ORIGIN)
    enrol_security_key(*signed_in(app), authenticator)
    first = browser(app)
    _, first_headers = start_login(first)
    challenge = webauthn_challenge(first, first_headers)
    assertion = authenticator.get(challenge["options"])
    assert send_assertion(first, first_headers, assertion, challenge["state"]).status_code == 200

    second = browser(app)
    _, headers = start_login(second)
    same_again = send_assertion(second, headers, assertion, challenge["state"])
    with_new_challenge = send_assertion(second, headers, assertion, webauthn_challenge(second, headers)["state"])

    assert_problem(same_again, 401, "second-factor-refused")
    assert_problem(with_new_challenge, 401, "second-factor-refused")
    assert_problem(second.get("/api/v1/me"), 401, "unauthenticated")


def test_a_replayed_assertion_is_refused_even_from_a_key_without_signature_counter(world, app):
    # Synced passkeys commonly report a sign count of 0 every time, so the count cannot expose a replay.
    authenticator = SoftAuthenticator(ORIGIN)
    enrol_security_key(*signed_in(app), authenticator)
    first = browser(app)
    _, first_headers = start_login(first)
    challenge = webauthn_challenge(first, first_headers)
    next(iter(authenticator.credentials.values())).sign_count = -1  # get() counts up to 0
    assertion = authenticator.get(challenge["options"])
    assert send_assertion(first, first_headers, assertion, challenge["state"]).status_code == 200

    second = browser(app)
    _, headers = start_login(second)

    assert_problem(send_assertion(second, headers, assertion, challenge["state"]), 401, "second-factor-refused")
    assert_problem(second.get("/api/v1/me"), 401, "unauthenticated")


def test_security_key_options_without_a_registered_key_are_refused(world, app):
    clock.freeze()
    enrol_totp(*signed_in(app))
    client = browser(app)
    _, headers = start_login(client)

    assert_problem(client.post("/api/v1/auth/login/webauthn/options", headers=headers), 409, "no-security-key")


# --- YubiKey (Yubico OTP) -------------------------------------------------------


def test_yubikey_enrolment_and_login_with_a_fresh_otp(world, app):
    key = SoftYubiKey.generate()
    enrolled = enrol_yubikey(*signed_in(app), key)
    client = browser(app)

    result, headers = start_login(client)
    response = send_yubico_otp(client, headers, key.otp())

    assert enrolled.status_code == 201, enrolled.text
    assert set(enrolled.json()) == {"id", "name", "created_at", "last_used_at"}
    assert result["second_factor_required"] is True and result["methods"] == ["yubico_otp"]
    assert response.status_code == 200, response.text
    assert client.get("/api/v1/me").status_code == 200


def test_yubikey_enrolment_refuses_an_otp_of_another_key(world, app):
    client, headers = signed_in(app)
    key = SoftYubiKey.generate()

    response = enrol_yubikey(client, headers, key, otp=SoftYubiKey.generate().otp())

    assert_problem(response, 422, "invalid")
    assert client.get("/api/v1/me/yubikeys").json() == []


def test_a_replayed_yubico_otp_is_refused(world, app):
    key = SoftYubiKey.generate()
    enrol_yubikey(*signed_in(app), key)
    otp = key.otp()
    first = browser(app)
    _, first_headers = start_login(first)
    assert send_yubico_otp(first, first_headers, otp).status_code == 200

    second = browser(app)
    _, headers = start_login(second)

    assert_problem(send_yubico_otp(second, headers, otp), 401, "second-factor-refused")
    assert send_yubico_otp(second, headers, key.otp()).status_code == 200


def test_the_enrolment_otp_cannot_be_replayed_at_login(world, app):
    key = SoftYubiKey.generate()
    enrolment_otp = key.otp()
    enrol_yubikey(*signed_in(app), key, otp=enrolment_otp)
    client = browser(app)
    _, headers = start_login(client)

    assert_problem(send_yubico_otp(client, headers, enrolment_otp), 401, "second-factor-refused")


def test_an_otp_of_an_unregistered_yubikey_is_refused(world, app):
    enrol_yubikey(*signed_in(app), SoftYubiKey.generate())
    client = browser(app)
    _, headers = start_login(client)

    response = send_yubico_otp(client, headers, SoftYubiKey.generate().otp())

    assert_problem(response, 401, "second-factor-refused")
    assert_problem(client.get("/api/v1/me"), 401, "unauthenticated")


def test_another_users_yubikey_is_refused(world, app):
    theirs = SoftYubiKey.generate()
    enrol_yubikey(*signed_in(app, OTHER), theirs)
    enrol_yubikey(*signed_in(app), SoftYubiKey.generate())
    client = browser(app)
    _, headers = start_login(client)

    assert_problem(send_yubico_otp(client, headers, theirs.otp()), 401, "second-factor-refused")


# --- a tenant that requires a second factor -------------------------------------


def test_required_second_factor_blocks_the_api_until_enrolled(world, app, system_db):
    require_second_factor(world, system_db)
    client = browser(app)

    result, headers = start_login(client)

    assert result["enrolment_required"] is True and result["second_factor_required"] is False
    assert_problem(client.get("/api/v1/devices"), 403, "second-factor-required")
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["needs_second_factor_enrolment"] is True


def test_required_second_factor_is_met_by_enrolling_one(world, app, system_db):
    clock.freeze()
    require_second_factor(world, system_db)
    client = browser(app)
    _, headers = start_login(client)

    enrol_totp(client, headers)

    assert client.get("/api/v1/devices").status_code == 200
    assert client.get("/api/v1/me").json()["needs_second_factor_enrolment"] is False


def test_required_second_factor_can_be_met_with_a_yubikey(world, app, system_db):
    require_second_factor(world, system_db)
    client = browser(app)
    _, headers = start_login(client)

    assert enrol_yubikey(client, headers, SoftYubiKey.generate()).status_code == 201
    assert client.get("/api/v1/devices").status_code == 200


def test_required_second_factor_cannot_be_bypassed_with_an_api_token(world, app, system_db):
    require_second_factor(world, system_db)
    client = browser(app)
    _, headers = start_login(client)

    response = client.post("/api/v1/me/tokens", json={"name": "ERP", "scopes": ["device.read"]}, headers=headers)

    assert_problem(response, 403, "second-factor-required")
    assert client.get("/api/v1/me/tokens").json() == []


def test_required_second_factor_does_not_affect_other_tenants(world, app, system_db):
    require_second_factor(world, system_db)
    client = browser(app)
    start_login(client, "admin@beta.test")

    assert client.get("/api/v1/devices").status_code == 200
