"""Support access: a customer's release code gives platform support read-only access for 48 hours, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from leitstand.access.models import RoleGrant
from leitstand.access.roles import ScopeKind
from leitstand.auth.secrets import token_digest
from leitstand.clock import clock
from leitstand.support.access import normalise
from leitstand.support.models import SupportAccessCode
from tests.helpers.world import ALPHA_MARK, BETA_MARK, World


@pytest.fixture
def support(world: World) -> str:
    world.user_with_role("support", "platform_support", world.root)
    return "support"


def issue(world: World, **body):  # type: ignore[no-untyped-def]
    response = world.as_user("alpha_operator").post("/api/v1/support-access", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def redeem(world: World, user: str, code: str):  # type: ignore[no-untyped-def]
    return world.as_user(user).post("/api/v1/support-access/redeem", json={"code": code})


def test_the_code_is_shown_once_and_stored_hashed(world: World, system_db) -> None:
    clock.freeze()
    issued = issue(world, note="Fernwartung Schranke")

    stored = system_db.get(SupportAccessCode, issued["id"])
    listed = world.as_user("alpha_operator").get("/api/v1/support-access").json()

    assert stored.code_hash == token_digest(normalise(issued["code"])) != issued["code"]
    assert issued["tenant_id"] == world.alpha.customer.id and issued["state"] == "issued"
    assert issued["expires_at"] == (clock.now() + timedelta(hours=48)).isoformat().replace("+00:00", "Z")
    assert listed["total"] == 1 and "code" not in listed["items"][0]
    assert issued["code"] not in world.as_user("alpha_operator").get("/api/v1/support-access").text


def test_redeeming_gives_read_only_access_to_exactly_that_tenant(world: World, support: str) -> None:
    code = issue(world)["code"]
    desk = world.as_user(support)
    assert desk.get(f"/api/v1/devices/{world.alpha.barrier.id}").status_code == 403  # nothing before redeeming

    assert redeem(world, support, code.lower().replace("-", " ")).status_code == 200  # typed loosely

    assert desk.get(f"/api/v1/devices/{world.alpha.barrier.id}").status_code == 200
    devices = desk.get("/api/v1/devices").json()
    assert {item["id"] for item in devices["items"]} == {world.alpha.barrier.id, world.alpha.thermostat.id}
    assert BETA_MARK not in desk.get("/api/v1/devices").text
    assert desk.get(f"/api/v1/devices/{world.beta.barrier.id}").status_code == 404
    assert desk.patch(f"/api/v1/devices/{world.alpha.barrier.id}", json={"name": "x"}).status_code == 403
    assert desk.post(f"/api/v1/devices/{world.alpha.barrier.id}/commands",
                     json={"name": "open", "idempotency_key": "support"}).status_code == 403


def test_a_device_code_reaches_only_that_device(world: World, support: str) -> None:
    code = issue(world, device_id=world.alpha.barrier.id)["code"]
    redeem(world, support, code)
    desk = world.as_user(support)

    assert desk.get(f"/api/v1/devices/{world.alpha.barrier.id}").status_code == 200
    assert desk.get(f"/api/v1/devices/{world.alpha.thermostat.id}").status_code == 404
    assert desk.get(f"/api/v1/sites/{world.alpha.site.id}").status_code in (403, 404)


def test_every_request_under_support_access_is_audited_for_the_customer(world: World, support: str) -> None:
    issued = issue(world)
    redeem(world, support, issued["code"])
    desk = world.as_user(support)
    desk.get(f"/api/v1/devices/{world.alpha.barrier.id}")
    desk.get("/api/v1/sites")

    views = world.as_user("alpha_operator").get(f"/api/v1/support-access/{issued['id']}/views").json()
    audit = world.as_user("alpha_operator").get("/api/v1/audit", params={"action": "support.view"})

    paths = [(view["method"], view["path"]) for view in views]
    assert paths[:2] == [("GET", "/api/v1/sites"), ("GET", f"/api/v1/devices/{world.alpha.barrier.id}")]
    assert all(view["actor"] == world.users[support].email for view in views)
    assert audit.status_code == 200 and "support.view" in audit.text
    assert world.as_user("beta_operator").get(f"/api/v1/support-access/{issued['id']}/views").status_code == 404


def test_revoking_stops_access_on_the_next_request(world: World, support: str) -> None:
    issued = issue(world)
    redeem(world, support, issued["code"])
    desk = world.as_user(support)
    assert desk.get(f"/api/v1/devices/{world.alpha.barrier.id}").status_code == 200

    revoked = world.as_user("alpha_operator").post(f"/api/v1/support-access/{issued['id']}/revoke")

    assert revoked.json()["state"] == "revoked"
    assert desk.get(f"/api/v1/devices/{world.alpha.barrier.id}").status_code in (403, 404)
    assert ALPHA_MARK not in desk.get("/api/v1/devices").text
    assert redeem(world, support, issued["code"]).status_code == 403


def test_an_expired_code_is_refused_and_stops_access(world: World, support: str) -> None:
    clock.freeze()
    used, unused = issue(world), issue(world)
    redeem(world, support, used["code"])
    desk = world.as_user(support)

    clock.advance(timedelta(hours=48, seconds=1))

    assert desk.get(f"/api/v1/devices/{world.alpha.barrier.id}").status_code in (403, 404)
    assert redeem(world, support, unused["code"]).status_code == 403
    assert world.as_user("alpha_operator").get("/api/v1/support-access").json()["items"][0]["state"] == "expired"


def test_only_platform_support_on_the_root_tenant_redeems(world: World, system_db) -> None:
    code = issue(world)["code"]
    # The role is granted on the root tenant only; a grant elsewhere (written past that check,
    # e.g. by an old installation) must still not open a customer's data.
    fake = world.user_with_role("fake_support", None, world.alpha.partner)
    system_db.add(RoleGrant(user_id=fake.id, tenant_id=fake.tenant_id, role="platform_support",
                            scope_kind=ScopeKind.tenant, scope_tenant_id=world.alpha.partner.id))
    system_db.commit()

    assert redeem(world, "alpha_admin", code).status_code == 403  # holds every permission, but is no support desk
    assert redeem(world, "fake_support", code).status_code == 403
    assert system_db.scalar(select(SupportAccessCode.redeemed_by_id)) is None


def test_a_redeemed_code_belongs_to_one_support_user(world: World, support: str) -> None:
    code = issue(world)["code"]
    world.user_with_role("support2", "platform_support", world.root)

    assert redeem(world, support, code).status_code == 200
    assert redeem(world, "support2", code).status_code == 409
    assert world.as_user("support2").get(f"/api/v1/devices/{world.alpha.barrier.id}").status_code == 403


def test_codes_are_for_customers_not_the_platform_or_other_tenants(world: World) -> None:
    operator = world.as_user("alpha_operator")

    assert operator.post("/api/v1/support-access", json={"tenant_id": world.beta.customer.id}).status_code == 404
    assert operator.post("/api/v1/support-access", json={"device_id": world.beta.barrier.id}).status_code == 404
    admin = world.as_user("platform_admin")
    assert admin.post("/api/v1/support-access", json={"tenant_id": world.root.id}).status_code == 422
