"""Personal API tokens (/api/v1/me/tokens): shown once, stored hashed, narrowed by scopes, expiring, revocable."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from leitstand.access.models import RoleGrant
from leitstand.auth.models import ApiToken
from leitstand.clock import clock
from leitstand.web.deps import CSRF_HEADER
from tests.helpers.world import PASSWORD, ApiClient

READER = "reader@alpha.test"


def signed_in(app, email: str = READER) -> tuple[TestClient, dict[str, str]]:  # type: ignore[no-untyped-def]
    """A browser logged in with a password, and the CSRF header its changes need."""
    client = TestClient(app, base_url="http://localhost:8000")
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client, {CSRF_HEADER: response.json()["csrf_token"]}


def create_token(client, headers: dict[str, str], scopes: list[str] | None = None, **fields):  # type: ignore[no-untyped-def]
    body = {"name": "ERP-Anbindung", "scopes": scopes or ["device.read"], **fields}
    return client.post("/api/v1/me/tokens", json=body, headers=headers)


def new_token(app, scopes: list[str] | None = None, **fields) -> dict:  # type: ignore[no-untyped-def]
    """Log in as the reader and create a token; returns the creation response body."""
    client, headers = signed_in(app)
    response = create_token(client, headers, scopes, **fields)
    assert response.status_code == 201, response.text
    return response.json()


def bearer(world, raw: str) -> ApiClient:  # type: ignore[no-untyped-def]
    return ApiClient(world.client, raw)


def assert_problem(response, status: int, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(f"/{kind}")


def stored_token(db, token_id: int) -> ApiToken:  # type: ignore[no-untyped-def]
    db.rollback()  # end the test's snapshot so the app's commits are visible
    row = db.scalar(select(ApiToken).where(ApiToken.id == token_id))
    assert row is not None
    return row


# --- creating and listing -------------------------------------------------------


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(world, app, system_db):
    created = new_token(app)
    raw = created["token"]

    row = stored_token(system_db, created["id"])

    assert raw.startswith("lst_") and len(raw) > 40
    assert created["prefix"] == raw[:10]
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in [str(getattr(row, column.key)) for column in ApiToken.__table__.columns]
    assert row.user_id == world.users["alpha_reader"].id
    assert created["scopes"] == ["device.read"]


def test_the_token_list_never_contains_the_secret(world, app):
    client, headers = signed_in(app)
    raw = create_token(client, headers).json()["token"]

    listed = client.get("/api/v1/me/tokens")

    assert listed.status_code == 200
    [item] = listed.json()
    assert "token" not in item and item["prefix"] == raw[:10]
    assert raw not in listed.text


def test_the_token_list_shows_only_ones_own_tokens(world, app):
    mine = new_token(app)

    theirs = {item["id"] for item in world.as_user("alpha_operator").get("/api/v1/me/tokens").json()}

    assert world.alpha.token.id in theirs and mine["id"] not in theirs


def test_a_token_works_as_bearer_without_csrf(world, app):
    raw = new_token(app)["token"]

    response = bearer(world, raw).get("/api/v1/devices")

    assert response.status_code == 200


# --- scopes ---------------------------------------------------------------------


def test_a_token_can_only_do_what_its_scopes_allow(world, app):
    api = bearer(world, new_token(app, ["device.read"])["token"])

    devices = api.get("/api/v1/devices")
    sites = api.get("/api/v1/sites")

    assert devices.status_code == 200 and devices.json()["total"] >= 1
    assert_problem(sites, 403, "forbidden")


def test_a_scope_the_user_does_not_hold_is_refused(world, app):
    client, headers = signed_in(app)  # read-only: cannot write devices

    response = create_token(client, headers, ["device.read", "device.write"])

    assert_problem(response, 422, "invalid")
    assert "device.write" in response.json()["detail"]
    assert client.get("/api/v1/me/tokens").json() == []


def test_an_unknown_scope_is_refused(world, app):
    client, headers = signed_in(app)

    assert_problem(create_token(client, headers, ["device.destroy"]), 422, "invalid")


def test_a_token_never_exceeds_its_owners_permissions(world, app, system_db):
    api = bearer(world, new_token(app, ["device.read"])["token"])
    for grant in system_db.scalars(select(RoleGrant).where(RoleGrant.user_id == world.users["alpha_reader"].id)):
        system_db.delete(grant)
    system_db.commit()

    assert_problem(api.get("/api/v1/devices"), 403, "forbidden")


# --- what a token may not do ----------------------------------------------------


def test_a_token_cannot_create_tokens(world, app):
    # Not even with the account scope, which opens the token list.
    api = bearer(world, new_token(app, ["device.read", "token.own", "account"])["token"])

    response = api.post("/api/v1/me/tokens", json={"name": "Nachwuchs", "scopes": ["device.read"]})

    assert_problem(response, 403, "forbidden")


def test_garbage_bearer_is_refused(world):
    for header in ("Bearer garbage", "Bearer lst_" + "A" * 43, "Bearer ", "Basic cmVhZGVyOnB3"):
        response = world.client.get("/api/v1/me", headers={"Authorization": header})

        assert_problem(response, 401, "unauthenticated")
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_tokens_hash_is_no_token(world, app, system_db):
    created = new_token(app)
    row = stored_token(system_db, created["id"])

    assert_problem(bearer(world, row.token_hash).get("/api/v1/me"), 401, "unauthenticated")


# --- lifetime -------------------------------------------------------------------


def test_a_token_expires_after_its_days(world, app):
    clock.freeze()
    api = bearer(world, new_token(app, expires_in_days=30)["token"])

    clock.advance(timedelta(days=30) - timedelta(minutes=1))
    assert api.get("/api/v1/devices").status_code == 200
    clock.advance(timedelta(minutes=1))

    response = api.get("/api/v1/devices")
    assert_problem(response, 401, "unauthenticated")
    assert "expired" in response.json()["detail"]


def test_a_token_without_expiry_keeps_working(world, app):
    clock.freeze()
    created = new_token(app, expires_in_days=None)

    clock.advance(timedelta(days=3650))

    assert created["expires_at"] is None
    assert bearer(world, created["token"]).get("/api/v1/devices").status_code == 200


def test_a_revoked_token_is_refused(world, app):
    client, headers = signed_in(app)
    created = create_token(client, headers).json()
    api = bearer(world, created["token"])
    assert api.get("/api/v1/devices").status_code == 200

    revoked = client.delete(f"/api/v1/me/tokens/{created['id']}", headers=headers)

    assert revoked.status_code == 204
    assert_problem(api.get("/api/v1/devices"), 401, "unauthenticated")
    [listed] = client.get("/api/v1/me/tokens").json()
    assert listed["revoked_at"] is not None


def test_a_token_with_the_account_scope_can_revoke_itself(world, app):
    created = new_token(app, ["device.read", "account"])
    api = bearer(world, created["token"])

    assert api.delete(f"/api/v1/me/tokens/{created['id']}").status_code == 204
    assert_problem(api.get("/api/v1/me"), 401, "unauthenticated")


def test_another_users_token_cannot_be_revoked(world, app):
    client, headers = signed_in(app)

    response = client.delete(f"/api/v1/me/tokens/{world.alpha.token.id}", headers=headers)

    assert_problem(response, 404, "not-found")


def test_a_deactivated_users_token_is_refused(world, app, system_db):
    api = bearer(world, new_token(app)["token"])
    world.users["alpha_reader"].is_active = False
    system_db.commit()

    assert_problem(api.get("/api/v1/me"), 401, "unauthenticated")


def test_last_used_is_recorded_at_most_once_a_minute(world, app, system_db):
    clock.freeze()
    created = new_token(app, ["device.read", "account"])
    api = bearer(world, created["token"])
    assert created["last_used_at"] is None

    api.get("/api/v1/me")
    first_use = clock.now()
    assert stored_token(system_db, created["id"]).last_used_at == first_use

    clock.advance(timedelta(seconds=30))
    api.get("/api/v1/me")
    assert stored_token(system_db, created["id"]).last_used_at == first_use

    clock.advance(timedelta(minutes=2))
    api.get("/api/v1/me")
    assert stored_token(system_db, created["id"]).last_used_at == clock.now()
    listed = api.get("/api/v1/me/tokens").json()[0]["last_used_at"]
    assert datetime.fromisoformat(listed.replace("Z", "+00:00")) == clock.now()
