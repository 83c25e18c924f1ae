"""Roles and role grants: who may grant what to whom, and what a grant then reaches."""

from __future__ import annotations

import pytest

from leitstand.access.roles import ROLES
from leitstand.devices.models import Device
from leitstand.sites.models import Site, SiteKind
from leitstand.tenancy.models import new_path_segment

GRANTS = "/api/v1/role-grants"
ALL_ROLES = {
    "platform_admin", "partner_admin", "partner_technician", "operator", "operator_technician",
    "end_customer", "read_only", "integration", "platform_support",
}


@pytest.fixture
def colleague(world):  # type: ignore[no-untyped-def]
    """A user of Alpha's customer without any grant yet."""
    return world.user_with_role("colleague", None, world.alpha.customer)  # type: ignore[arg-type]


@pytest.fixture
def depot(world, system_db):  # type: ignore[no-untyped-def]
    """A second Alpha site with a device of its own."""
    alpha = world.alpha
    site = Site(tenant_id=alpha.customer.id, kind=SiteKind.site, name="Alpha Depot", path=f"/{new_path_segment()}/")
    system_db.add(site)
    system_db.flush()
    device = Device(tenant_id=alpha.customer.id, type_key="gateway", serial_number="ALPHA-GW-0001",
                    name="Alpha Gateway Depot", site_id=site.id)
    system_db.add(device)
    system_db.commit()
    return site, device


def grant(api, user_id: int, role: str, **target):  # type: ignore[no-untyped-def]
    (kind, target_id), = target.items()
    return api.post(GRANTS, json={"user_id": user_id, "role": role, "scope_kind": kind, f"{kind}_id": target_id})


def device_names(api) -> set[str]:  # type: ignore[no-untyped-def]
    response = api.get("/api/v1/devices")
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["items"]}


def site_names(api) -> set[str]:  # type: ignore[no-untyped-def]
    response = api.get("/api/v1/sites")
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["items"]}


def test_roles_lists_the_eight_declared_roles(world):
    response = world.as_user("alpha_reader").get("/api/v1/roles")

    assert response.status_code == 200
    roles = {role["key"]: role for role in response.json()}
    assert set(roles) == ALL_ROLES == set(ROLES)
    for role in roles.values():
        assert role["label_de"] and role["label_en"] and role["permissions"] and role["grantable_on"]
    assert roles["platform_admin"]["grantable_on"] == ["tenant"]
    assert "license.write" not in roles["operator"]["permissions"]


def test_roles_needs_authentication(client, world):
    assert client.get("/api/v1/roles").status_code == 401


def test_operator_grants_operator_technician_on_its_site(world, colleague, depot):
    alpha = world.alpha

    response = grant(world.as_user("alpha_operator"), colleague.id, "operator_technician", site=alpha.site.id)

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["user_id"], body["role"], body["scope_kind"], body["site_id"]) == (
        colleague.id, "operator_technician", "site", alpha.site.id)
    assert device_names(world.as_user("colleague")) == {alpha.barrier.name, alpha.thermostat.name}


def test_operator_cannot_grant_partner_admin(world, colleague):
    response = grant(world.as_user("alpha_operator"), colleague.id, "partner_admin", tenant=world.alpha.customer.id)

    assert response.status_code == 422  # a partner role does not fit a customer, whoever asks
    assert response.json()["detail"]
    assert world.as_user("alpha_operator").get(GRANTS, params={"user_id": colleague.id}).json()["total"] == 0


@pytest.mark.parametrize("role", ["platform_admin", "platform_support"])
def test_platform_roles_can_only_be_granted_on_the_root_tenant(world, colleague, role):
    operator = grant(world.as_user("alpha_operator"), colleague.id, role, tenant=world.alpha.customer.id)
    partner = grant(world.as_user("alpha_admin"), colleague.id, role, tenant=world.alpha.partner.id)
    root = grant(world.as_user("platform_admin"), colleague.id, role, tenant=world.alpha.customer.id)

    assert (operator.status_code, partner.status_code, root.status_code) == (422, 422, 422)


def test_a_role_on_a_scope_it_does_not_fit_is_422(world, colleague):
    alpha = world.alpha
    api = world.as_user("alpha_admin")

    assert grant(api, colleague.id, "partner_admin", site=alpha.site.id).status_code == 422
    assert grant(api, colleague.id, "operator", device=alpha.barrier.id).status_code == 422
    assert grant(api, colleague.id, "superuser", tenant=alpha.customer.id).status_code == 422


@pytest.mark.parametrize(("grantor", "grantee", "role", "target", "kind"), [
    ("alpha_admin", "colleague", "partner_admin", "customer", "customer"),  # issue 14, defect 6
    ("alpha_admin", "alpha_admin_colleague", "end_customer", "partner", "partner"),
    ("alpha_admin", "alpha_admin_colleague", "operator", "partner", "partner"),
])
def test_a_role_is_granted_only_on_the_tenant_kinds_it_is_made_for(world, colleague, grantor, grantee, role, target,
                                                                   kind):
    world.user_with_role("alpha_admin_colleague", None, world.alpha.partner)
    targets = {"customer": {"tenant": world.alpha.customer.id}, "partner": {"tenant": world.alpha.partner.id}}
    api = world.as_user(grantor)

    response = grant(api, world.users[grantee].id, role, **targets[target])

    assert response.status_code == 422
    assert role in response.json()["detail"] and f"Organisation der Art {kind} vergeben" in response.json()["detail"]
    assert api.get(GRANTS, params={"user_id": world.users[grantee].id}).json()["total"] == 0


def test_the_roles_list_says_which_tenant_kinds_each_role_is_made_for(world):
    roles = {role["key"]: role for role in world.as_user("alpha_reader").get("/api/v1/roles").json()}

    assert roles["partner_admin"]["tenant_kinds"] == ["partner"]
    assert roles["end_customer"]["tenant_kinds"] == ["customer", "end_customer"]
    assert roles["platform_support"]["tenant_kinds"] == ["root"]


def test_the_same_grant_twice_is_one_grant(world, colleague):  # issue 14, defect 6
    api = world.as_user("alpha_operator")

    first = grant(api, colleague.id, "read_only", site=world.alpha.site.id)
    again = grant(api, colleague.id, "read_only", site=world.alpha.site.id)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert api.get(GRANTS, params={"user_id": colleague.id}).json()["total"] == 1
    # Another role, or the same role elsewhere, is another grant.
    assert grant(api, colleague.id, "operator_technician", site=world.alpha.site.id).status_code == 201
    assert grant(api, colleague.id, "read_only", device=world.alpha.barrier.id).status_code == 201
    assert api.get(GRANTS, params={"user_id": colleague.id}).json()["total"] == 3


def test_the_database_keeps_one_grant_per_user_role_and_target(world, colleague, system_db):
    from sqlalchemy.exc import IntegrityError

    from leitstand.access.models import RoleGrant

    def add() -> None:
        system_db.add(RoleGrant(user_id=colleague.id, tenant_id=colleague.tenant_id, role="read_only",
                                scope_kind="site", site_id=world.alpha.site.id))
        system_db.commit()

    add()
    with pytest.raises(IntegrityError):
        add()
    system_db.rollback()


def test_a_grant_needs_exactly_its_target(world, colleague):
    api = world.as_user("alpha_operator")
    alpha = world.alpha

    missing = api.post(GRANTS, json={"user_id": colleague.id, "role": "read_only", "scope_kind": "site"})
    two = api.post(GRANTS, json={"user_id": colleague.id, "role": "read_only", "scope_kind": "site",
                                 "site_id": alpha.site.id, "device_id": alpha.barrier.id})

    assert missing.status_code == 422
    assert two.status_code == 422


def test_targets_of_another_organisation_are_404(world, colleague):
    api = world.as_user("alpha_operator")
    beta = world.beta

    assert grant(api, colleague.id, "read_only", site=beta.site.id).status_code == 404
    assert grant(api, colleague.id, "read_only", device=beta.barrier.id).status_code == 404
    assert grant(api, beta.operator.id, "read_only", site=world.alpha.site.id).status_code == 404


def test_a_grant_stays_within_the_grantee_s_organisation(world):
    alpha = world.alpha
    api = world.as_user("alpha_admin")
    end_customer = world.users["alpha_end"]

    # The partner admin reaches both, but the end customer's user must not get the customer's site.
    refused = grant(api, end_customer.id, "read_only", site=alpha.site.id)
    assert refused.status_code == 422
    assert "außerhalb der Organisation des Benutzers" in refused.json()["detail"]
    assert grant(api, end_customer.id, "read_only", tenant=alpha.customer.id).status_code == 422
    # The device shared with the end customer may be granted.
    assert grant(api, end_customer.id, "read_only", device=alpha.barrier.id).status_code == 201


def test_an_operator_technician_cannot_grant_at_all(world, colleague):
    response = grant(world.as_user("alpha_site_tech"), colleague.id, "read_only", site=world.alpha.site.id)

    assert response.status_code == 403


def test_a_grant_on_a_device_gives_exactly_that_device(world, colleague, depot):
    alpha = world.alpha

    response = grant(world.as_user("alpha_operator"), colleague.id, "read_only", device=alpha.thermostat.id)

    assert response.status_code == 201, response.text
    api = world.as_user("colleague")
    assert device_names(api) == {alpha.thermostat.name}
    assert api.get(f"/api/v1/devices/{alpha.thermostat.id}").status_code == 200
    assert api.get(f"/api/v1/devices/{alpha.barrier.id}").status_code == 404
    assert site_names(api) == set()
    assert api.get("/api/v1/licenses").json()["total"] == 0  # the thermostat has none
    assert api.get("/api/v1/tenants").json()["total"] == 0


def test_a_device_grant_reaches_that_devices_license(world, colleague):
    alpha = world.alpha
    grant(world.as_user("alpha_operator"), colleague.id, "read_only", device=alpha.barrier.id)

    licenses = world.as_user("colleague").get("/api/v1/licenses").json()

    assert [item["id"] for item in licenses["items"]] == [alpha.license.id]


def test_revoking_a_grant_takes_effect_and_is_audited(world, colleague):
    alpha = world.alpha
    operator = world.as_user("alpha_operator")
    grant_id = grant(operator, colleague.id, "read_only", device=alpha.thermostat.id).json()["id"]
    assert device_names(world.as_user("colleague")) == {alpha.thermostat.name}

    response = operator.delete(f"{GRANTS}/{grant_id}")

    assert response.status_code == 204
    assert operator.get(f"{GRANTS}/{grant_id}").status_code == 404
    assert world.as_user("colleague").get("/api/v1/devices").status_code == 403
    entries = operator.get("/api/v1/audit", params={"action": "role_grants.delete", "target_id": str(grant_id)}).json()
    assert entries["total"] == 1
    entry = entries["items"][0]
    assert entry["actor"] == alpha.operator.email
    assert entry["actor_user_id"] == alpha.operator.id
    assert entry["tenant_id"] == alpha.customer.id
    created = operator.get("/api/v1/audit", params={"action": "role_grants.create", "target_id": str(grant_id)}).json()
    assert created["total"] == 1
    assert created["items"][0]["changes"]["device_id"] == alpha.thermostat.id


def test_own_grants_cannot_be_revoked(world):
    response = world.as_user("alpha_operator").delete(f"{GRANTS}/{world.alpha.grant.id}")

    assert response.status_code == 409


def test_another_organisations_grant_is_invisible(world):
    api = world.as_user("alpha_operator")

    assert api.get(f"{GRANTS}/{world.beta.grant.id}").status_code == 404
    assert api.delete(f"{GRANTS}/{world.beta.grant.id}").status_code == 404
    listed = api.get(GRANTS, params={"limit": 500}).json()["items"]
    assert world.beta.operator.id not in {item["user_id"] for item in listed}


def test_a_site_grant_sees_only_that_sites_devices_and_sites_below_it(world, depot):
    alpha = world.alpha
    api = world.as_user("alpha_site_tech")

    assert device_names(api) == {alpha.barrier.name, alpha.thermostat.name}
    assert site_names(api) == {alpha.site.name, alpha.building.name, alpha.room.name}
    depot_site, depot_device = depot
    assert api.get(f"/api/v1/devices/{depot_device.id}").status_code == 404
    assert api.get(f"/api/v1/sites/{depot_site.id}").status_code == 404
    assert api.get("/api/v1/tenants").status_code == 403


def test_a_site_grant_on_a_building_does_not_reach_the_site_above(world, colleague, depot):
    alpha = world.alpha
    grant(world.as_user("alpha_operator"), colleague.id, "operator_technician", site=alpha.building.id)

    api = world.as_user("colleague")

    assert site_names(api) == {alpha.building.name, alpha.room.name}
    assert device_names(api) == {alpha.barrier.name, alpha.thermostat.name}
