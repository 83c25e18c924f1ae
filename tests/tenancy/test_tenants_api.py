"""The organisation tree over the API: which kind a new tenant gets, who sees what, what may be deleted."""

from __future__ import annotations

from leitstand.devices.models import Device
from leitstand.sites.models import Site, SiteKind
from leitstand.tenancy.models import Tenant, TenantKind, new_path_segment
from tests.helpers.world import ALPHA_MARK, BETA_MARK

TENANTS = "/api/v1/tenants"


def create_tenant(api, parent: Tenant, name: str, **fields):  # type: ignore[no-untyped-def]
    return api.post(TENANTS, json={"parent_id": parent.id, "name": name, **fields})


def test_a_tenant_below_a_partner_is_a_customer(world):
    response = create_tenant(world.as_user("alpha_admin"), world.alpha.partner, "Neukunde GmbH")

    assert response.status_code == 201, response.text
    assert response.json()["kind"] == TenantKind.customer
    assert response.json()["parent_id"] == world.alpha.partner.id


def test_a_tenant_below_a_customer_is_an_end_customer(world):
    response = create_tenant(world.as_user("alpha_admin"), world.alpha.customer, "Mieter AG")

    assert response.status_code == 201, response.text
    assert response.json()["kind"] == TenantKind.end_customer


def test_nothing_can_be_created_below_an_end_customer(world):
    api = world.as_user("alpha_admin")

    response = create_tenant(api, world.alpha.end_customer, "Untermieter")

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    listed = api.get(TENANTS, params={"parent_id": world.alpha.end_customer.id}).json()
    assert listed["total"] == 0


def test_time_zone_defaults_to_berlin(world):
    response = create_tenant(world.as_user("alpha_admin"), world.alpha.partner, "Zeitzonenkunde")

    assert response.json()["time_zone"] == "Europe/Berlin"


def test_a_known_time_zone_is_kept(world):
    response = create_tenant(world.as_user("alpha_admin"), world.alpha.partner, "Lissabon Lda", time_zone="Europe/Lisbon")

    assert response.status_code == 201, response.text
    assert response.json()["time_zone"] == "Europe/Lisbon"


def test_an_unknown_time_zone_is_refused(world):
    api = world.as_user("alpha_admin")

    created = create_tenant(api, world.alpha.partner, "Atlantis", time_zone="Europe/Atlantis")
    updated = api.patch(f"{TENANTS}/{world.alpha.customer.id}", json={"time_zone": "Mars/Olympus"})

    assert created.status_code == 422
    assert updated.status_code == 422
    assert api.get(f"{TENANTS}/{world.alpha.customer.id}").json()["time_zone"] == "Europe/Berlin"


def test_partner_admin_sees_its_whole_subtree_and_not_the_other_partner(world):
    response = world.as_user("alpha_admin").get(TENANTS)

    assert response.status_code == 200
    ids = {item["id"] for item in response.json()["items"]}
    alpha = world.alpha
    assert ids == {alpha.partner.id, alpha.customer.id, alpha.end_customer.id}
    assert BETA_MARK not in response.text
    assert all(ALPHA_MARK in item["name"] for item in response.json()["items"])


def test_partner_admin_gets_404_for_the_other_partners_tenants(world):
    api = world.as_user("alpha_admin")
    beta = world.beta

    for tenant in (beta.partner, beta.customer, world.root):
        assert api.get(f"{TENANTS}/{tenant.id}").status_code == 404
    assert api.patch(f"{TENANTS}/{beta.customer.id}", json={"name": "übernommen"}).status_code == 404
    assert api.delete(f"{TENANTS}/{beta.customer.id}").status_code == 404
    assert create_tenant(api, beta.partner, "Eingeschleust").status_code == 404


def test_a_tenant_with_users_cannot_be_deleted(world):
    api = world.as_user("alpha_admin")

    response = api.delete(f"{TENANTS}/{world.alpha.end_customer.id}")

    assert response.status_code == 409
    assert "Benutzer" in response.json()["detail"]  # alpha_admin reads German
    assert api.get(f"{TENANTS}/{world.alpha.end_customer.id}").status_code == 200


def test_a_tenant_with_devices_cannot_be_deleted(world):
    api = world.as_user("alpha_admin")
    tenant_id = create_tenant(api, world.alpha.partner, "Gerätekunde").json()["id"]
    world.db.add(Device(tenant_id=tenant_id, type_key="bollard", serial_number="ALPHA-POL-0099", name="Poller"))
    world.db.commit()

    response = api.delete(f"{TENANTS}/{tenant_id}")

    assert response.status_code == 409
    assert "Geräte" in response.json()["detail"]


def test_a_tenant_with_sites_cannot_be_deleted_and_its_sites_are_named_before_its_devices(world):
    api = world.as_user("alpha_admin")
    tenant_id = create_tenant(api, world.alpha.partner, "Standortkunde").json()["id"]
    world.db.add(Site(tenant_id=tenant_id, kind=SiteKind.site, name="Depot", path=f"/{new_path_segment()}/"))
    world.db.add(Device(tenant_id=tenant_id, type_key="bollard", serial_number="ALPHA-POL-0098", name="Poller"))
    world.db.commit()

    response = api.delete(f"{TENANTS}/{tenant_id}")

    assert response.status_code == 409
    assert "Standorte" in response.json()["detail"]
    assert api.get(f"{TENANTS}/{tenant_id}").status_code == 200


def test_a_tenant_with_child_tenants_cannot_be_deleted(world):
    api = world.as_user("alpha_admin")

    response = api.delete(f"{TENANTS}/{world.alpha.customer.id}")

    assert response.status_code == 409


def test_an_empty_tenant_is_deleted(world):
    api = world.as_user("alpha_admin")
    tenant_id = create_tenant(api, world.alpha.partner, "Leerer Kunde").json()["id"]

    response = api.delete(f"{TENANTS}/{tenant_id}")

    assert response.status_code == 204
    assert api.get(f"{TENANTS}/{tenant_id}").status_code == 404


def test_own_tenant_cannot_be_deleted(world):
    response = world.as_user("alpha_admin").delete(f"{TENANTS}/{world.alpha.partner.id}")

    assert response.status_code == 409


def test_operator_cannot_create_tenants_without_permission_on_the_parent(world):
    # An operator holds tenant.write on its own customer only: the partner above stays out of reach.
    response = create_tenant(world.as_user("alpha_operator"), world.alpha.partner, "Seitwärts")

    assert response.status_code == 404
