"""The device fleet over the API: claim secrets, filters, sharing with end customers, device types."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from leitstand.devices.models import Device
from leitstand.devices.service import claim_secret_matches
from leitstand.licenses.models import License
from leitstand.sites.models import Site, SiteKind
from leitstand.tenancy.models import Tenant, new_path_segment
from tests.helpers.fleet import add_depot_fleet
from tests.helpers.world import BETA_MARK

DEVICES = "/api/v1/devices"
SHIPPED_TYPES = {"barrier", "bollard", "thermostat", "gateway", "generic_sensor"}


def new_device(world, **fields):  # type: ignore[no-untyped-def]
    body = {"serial_number": "ALPHA-BOL-0001", "type_key": "bollard", "tenant_id": world.alpha.customer.id,
            "name": "Alpha Poller", "site_id": world.alpha.room.id, **fields}
    return world.as_user("alpha_operator").post(DEVICES, json=body)


def stored(world, device_id: int) -> Device:  # type: ignore[no-untyped-def]
    world.db.expire_all()
    device = world.db.get(Device, device_id)
    assert device is not None
    return device


def names(response) -> set[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["items"]}


# --- claim secrets ---------------------------------------------------------------------


def test_create_returns_the_claim_secret_once_and_stores_only_its_hash(world):
    response = new_device(world)

    assert response.status_code == 201, response.text
    body = response.json()
    secret = body["claim_secret"]
    assert len(secret) >= 12
    assert "claim_secret_hash" not in body
    device = stored(world, body["id"])
    assert device.claim_secret_hash.startswith("$argon2")
    assert secret not in device.claim_secret_hash
    assert claim_secret_matches(device, secret)


def test_a_given_claim_secret_is_used_and_hashed(world):
    response = new_device(world, claim_secret="printed-label-0001")

    assert response.json()["claim_secret"] == "printed-label-0001"
    device = stored(world, response.json()["id"])
    assert device.claim_secret_hash.startswith("$argon2")
    assert claim_secret_matches(device, "printed-label-0001")


def test_get_and_list_never_return_the_claim_secret(world):
    api = world.as_user("alpha_operator")
    created = new_device(world, claim_secret="printed-label-0002").json()

    single = api.get(f"{DEVICES}/{created['id']}")
    listed = api.get(DEVICES)

    assert single.status_code == 200
    for text in (single.text, listed.text):
        assert "claim_secret" not in text
        assert "printed-label-0002" not in text
        assert "$argon2" not in text


def test_duplicate_serial_number_is_a_conflict(world):
    assert new_device(world).status_code == 201

    again = new_device(world, name="Zweiter Poller")
    # Serial numbers are unique across tenants: a device has one identity, whoever owns it.
    of_beta = new_device(world, serial_number="BETA-BAR-0001")

    assert again.status_code == 409
    assert of_beta.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


def test_unknown_device_type_is_404(world):
    assert new_device(world, type_key="flux_capacitor").status_code == 404


def test_another_tenants_custom_type_is_404_and_the_own_one_works(world):
    assert new_device(world, type_key=world.beta.device_type.key).status_code == 404
    assert new_device(world, type_key=world.alpha.device_type.key).status_code == 201


def test_a_site_or_tenant_of_another_organisation_is_404(world):
    assert new_device(world, site_id=world.beta.room.id).status_code == 404
    assert new_device(world, tenant_id=world.beta.customer.id).status_code == 404


def test_rotating_the_claim_secret_invalidates_the_old_one(world):
    api = world.as_user("alpha_operator")
    created = new_device(world, claim_secret="printed-label-0003").json()

    response = api.post(f"{DEVICES}/{created['id']}/claim-secret")

    assert response.status_code == 200, response.text
    new_secret = response.json()["claim_secret"]
    assert new_secret != "printed-label-0003"
    device = stored(world, created["id"])
    assert device.claim_secret_hash.startswith("$argon2")
    assert not claim_secret_matches(device, "printed-label-0003")
    assert claim_secret_matches(device, new_secret)


def test_another_tenant_cannot_rotate_the_claim_secret(world):
    response = world.as_user("beta_operator").post(f"{DEVICES}/{world.alpha.barrier.id}/claim-secret")

    assert response.status_code == 404
    assert claim_secret_matches(stored(world, world.alpha.barrier.id), "alpha-claim-secret-ALPHA-BAR-0001")


# --- filters -------------------------------------------------------------------------


@pytest.fixture
def fleet(world):  # type: ignore[no-untyped-def]
    """Alpha's two devices plus one in the building and one at a second site."""
    add_depot_fleet(world)
    return world


def test_site_filter_includes_everything_below_the_site(fleet):
    api, alpha = fleet.as_user("alpha_operator"), fleet.alpha

    whole_site = names(api.get(DEVICES, params={"site_id": alpha.site.id}))
    building = names(api.get(DEVICES, params={"site_id": alpha.building.id}))
    room = names(api.get(DEVICES, params={"site_id": alpha.room.id}))

    assert whole_site == {alpha.barrier.name, alpha.thermostat.name, "Alpha Gateway Haus"}
    assert building == whole_site
    assert room == {alpha.barrier.name, alpha.thermostat.name}


def test_site_filter_on_another_tenants_site_is_404(fleet):
    response = fleet.as_user("alpha_operator").get(DEVICES, params={"site_id": fleet.beta.site.id})

    assert response.status_code == 404


def test_type_key_filter(fleet):
    found = names(fleet.as_user("alpha_operator").get(DEVICES, params={"type_key": "barrier"}))

    assert found == {fleet.alpha.barrier.name, "Alpha Schranke Depot"}


def test_label_filter_matches_whole_labels(fleet):
    api = fleet.as_user("alpha_operator")

    assert names(api.get(DEVICES, params={"label": "lorawan"})) == {"Alpha Gateway Haus"}
    assert names(api.get(DEVICES, params={"label": "einfahrt"})) == {fleet.alpha.barrier.name}
    assert names(api.get(DEVICES, params={"label": "fahrt"})) == set()


def test_search_matches_name_and_serial_number(fleet):
    api = fleet.as_user("alpha_operator")

    assert names(api.get(DEVICES, params={"q": "depot"})) == {"Alpha Schranke Depot"}
    assert names(api.get(DEVICES, params={"q": "thm-0001"})) == {fleet.alpha.thermostat.name}
    assert names(api.get(DEVICES, params={"q": "%"})) == set()


def test_license_status_filter(fleet, system_db):
    alpha = fleet.alpha
    depot_barrier = system_db.scalar(select(Device).where(Device.serial_number == "ALPHA-BAR-0002"))
    system_db.add(License(device_id=depot_barrier.id, tenant_id=alpha.customer.id,
                          starts_on=alpha.license.starts_on.replace(year=alpha.license.starts_on.year - 3),
                          ends_on=alpha.license.starts_on.replace(year=alpha.license.starts_on.year - 2),
                          term_months=12, auto_renew=False))
    system_db.commit()
    api = fleet.as_user("alpha_operator")

    active = names(api.get(DEVICES, params={"license_status": "active"}))
    expired = names(api.get(DEVICES, params={"license_status": "expired"}))
    unlicensed = names(api.get(DEVICES, params={"license_status": "unlicensed"}))

    assert active == {alpha.barrier.name}
    assert expired == {"Alpha Schranke Depot"}
    assert unlicensed == {alpha.thermostat.name, "Alpha Gateway Haus"}


def test_filters_combine(fleet):
    api = fleet.as_user("alpha_operator")

    found = names(api.get(DEVICES, params={"site_id": fleet.alpha.site.id, "type_key": "barrier", "label": "einfahrt"}))

    assert found == {fleet.alpha.barrier.name}


def test_invalid_filter_values_are_422(fleet):
    api = fleet.as_user("alpha_operator")

    assert api.get(DEVICES, params={"type_key": "Bad Key"}).status_code == 422
    assert api.get(DEVICES, params={"license_status": "sometimes"}).status_code == 422
    assert api.get(DEVICES, params={"site_id": 0}).status_code == 422


# --- moving between tenants ---------------------------------------------------------------


def test_moving_a_device_to_another_customer_hides_it_from_the_old_one(world):
    alpha = world.alpha
    sister = world.as_user("alpha_admin").post("/api/v1/tenants", json={"parent_id": alpha.partner.id, "name": "Schwester"})
    assert sister.status_code == 201

    moved = world.as_user("alpha_admin").patch(f"{DEVICES}/{alpha.thermostat.id}", json={"tenant_id": sister.json()["id"]})

    assert moved.status_code == 200, moved.text
    api = world.as_user("alpha_operator")
    assert api.get(f"{DEVICES}/{alpha.thermostat.id}").status_code == 404
    assert alpha.thermostat.name not in names(api.get(DEVICES))


# --- sharing with end customers -------------------------------------------------------------


def test_sharing_makes_the_device_visible_to_the_end_customer_only(world):
    alpha = world.alpha
    neighbour = Tenant(parent_id=alpha.customer.id, kind="end_customer", name="Nachbar",
                       path=f"{alpha.customer.path}{new_path_segment()}/")
    world.db.add(neighbour)
    world.db.commit()
    world.user_with_role("neighbour_end", "end_customer", neighbour)
    assert world.as_user("alpha_end").get(f"{DEVICES}/{alpha.thermostat.id}").status_code == 404

    shared = world.as_user("alpha_operator").post(f"{DEVICES}/{alpha.thermostat.id}/shares",
                                                   json={"tenant_id": alpha.end_customer.id})

    assert shared.status_code == 201, shared.text
    end_customer = world.as_user("alpha_end")
    assert end_customer.get(f"{DEVICES}/{alpha.thermostat.id}").status_code == 200
    assert names(end_customer.get(DEVICES)) == {alpha.barrier.name, alpha.thermostat.name}
    for outsider in ("neighbour_end", "beta_operator", "beta_admin"):
        client = world.as_user(outsider)
        assert client.get(f"{DEVICES}/{alpha.thermostat.id}").status_code == 404, outsider
        assert alpha.thermostat.name not in names(client.get(DEVICES)), outsider


def test_shares_are_listed_for_the_owner(world):
    alpha = world.alpha

    response = world.as_user("alpha_operator").get(f"{DEVICES}/{alpha.barrier.id}/shares")

    assert response.status_code == 200
    assert [share["tenant_id"] for share in response.json()] == [alpha.end_customer.id]


def test_sharing_with_a_tenant_that_is_no_end_customer_is_422(world):
    alpha = world.alpha
    api = world.as_user("alpha_admin")
    sister = api.post("/api/v1/tenants", json={"parent_id": alpha.partner.id, "name": "Schwester"}).json()

    to_own = api.post(f"{DEVICES}/{alpha.thermostat.id}/shares", json={"tenant_id": alpha.customer.id})
    to_customer = api.post(f"{DEVICES}/{alpha.thermostat.id}/shares", json={"tenant_id": sister["id"]})
    to_partner = api.post(f"{DEVICES}/{alpha.thermostat.id}/shares", json={"tenant_id": alpha.partner.id})

    assert (to_own.status_code, to_customer.status_code, to_partner.status_code) == (422, 422, 422)


def test_sharing_with_another_organisations_tenant_is_404(world):
    beta_end = world.as_user("beta_admin").post("/api/v1/tenants", json={"parent_id": world.beta.customer.id,
                                                                           "name": f"Beta Endkunde {BETA_MARK}"})
    assert beta_end.status_code == 201

    response = world.as_user("alpha_operator").post(f"{DEVICES}/{world.alpha.thermostat.id}/shares",
                                                    json={"tenant_id": beta_end.json()["id"]})

    assert response.status_code == 404


def test_sharing_twice_is_a_conflict(world):
    alpha = world.alpha

    response = world.as_user("alpha_operator").post(f"{DEVICES}/{alpha.barrier.id}/shares",
                                                    json={"tenant_id": alpha.end_customer.id})

    assert response.status_code == 409


def test_unsharing_hides_the_device_again(world):
    alpha = world.alpha
    assert world.as_user("alpha_end").get(f"{DEVICES}/{alpha.barrier.id}").status_code == 200

    response = world.as_user("alpha_operator").delete(f"{DEVICES}/{alpha.barrier.id}/shares/{alpha.end_customer.id}")

    assert response.status_code == 204
    end_customer = world.as_user("alpha_end")
    assert end_customer.get(f"{DEVICES}/{alpha.barrier.id}").status_code == 404
    assert names(end_customer.get(DEVICES)) == set()
    again = world.as_user("alpha_operator").delete(f"{DEVICES}/{alpha.barrier.id}/shares/{alpha.end_customer.id}")
    assert again.status_code == 404


def test_the_end_customer_cannot_manage_shares(world):
    alpha = world.alpha

    response = world.as_user("alpha_end").delete(f"{DEVICES}/{alpha.barrier.id}/shares/{alpha.end_customer.id}")

    assert response.status_code == 403


# --- device types ------------------------------------------------------------------------


def test_device_types_include_the_shipped_declarations(world):
    response = world.as_user("alpha_operator").get("/api/v1/device-types")

    assert response.status_code == 200, response.text
    types = {item["key"]: item for item in response.json()}
    assert SHIPPED_TYPES <= set(types)
    for key in SHIPPED_TYPES:
        spec = types[key]["spec"]
        assert types[key]["tenant_id"] is None
        assert spec["name"]["de"] and spec["name"]["en"]
        assert spec["telemetry"], key
        assert any(metric["unit"] for metric in spec["telemetry"]), key
        assert spec["errors"], key
        for error in spec["errors"]:
            assert error["title"]["de"] and error["title"]["en"]
            assert set(error["steps"]) == {"de", "en"}, (key, error["code"])
            assert error["steps"]["de"] and error["steps"]["en"], (key, error["code"])
            assert len(error["steps"]["de"]) == len(error["steps"]["en"]), (key, error["code"])
        for command in spec["commands"]:
            assert command["label"]["de"] and command["label"]["en"]
    # A passive sensor takes no commands; every actuator and the gateway do.
    assert all(types[key]["spec"]["commands"] for key in SHIPPED_TYPES - {"generic_sensor"})


def test_device_type_units_and_commands(world):
    api = world.as_user("alpha_operator")

    thermostat = api.get("/api/v1/device-types/thermostat").json()["spec"]
    barrier = api.get("/api/v1/device-types/barrier").json()["spec"]

    units = {metric["key"]: metric["unit"] for metric in thermostat["telemetry"]}
    assert units["temperature"] == "°C"
    assert units["valve_opening"] == "%"
    assert {command["key"] for command in barrier["commands"]} >= {"open", "close"}
    assert {metric["key"]: metric["kind"] for metric in barrier["telemetry"]}["cycles"] == "counter"


def test_another_tenants_custom_type_is_not_listed(world):
    response = world.as_user("alpha_operator").get("/api/v1/device-types")

    keys = {item["key"] for item in response.json()}
    assert world.beta.device_type.key not in keys
    assert world.as_user("alpha_operator").get(f"/api/v1/device-types/{world.beta.device_type.key}").status_code == 404


# --- where a device may stand ------------------------------------------------------------


def test_a_device_cannot_stand_at_a_site_of_a_sibling_organisation(world):
    """Alpha's partner admin sees both the customer's and the end customer's sites, but a
    device of the customer cannot be placed at a site that belongs to its end customer."""
    end_customer_site = Site(tenant_id=world.alpha.end_customer.id, kind=SiteKind.site, name="Kanzlei",
                             path=f"/{new_path_segment()}/")
    world.db.add(end_customer_site)
    world.db.commit()
    admin = world.as_user("alpha_admin")

    response = admin.patch(f"{DEVICES}/{world.alpha.barrier.id}", json={"site_id": end_customer_site.id})

    assert response.status_code == 422, response.text
    assert stored(world, world.alpha.barrier.id).site_id == world.alpha.room.id


def test_an_end_customers_device_may_stand_in_the_landlords_building(world):
    admin = world.as_user("alpha_admin")
    body = {"serial_number": "ALPHA-THM-0099", "type_key": "thermostat", "tenant_id": world.alpha.end_customer.id,
            "name": "Kanzlei Thermostat", "site_id": world.alpha.room.id}

    response = admin.post(DEVICES, json=body)

    assert response.status_code == 201, response.text
    assert response.json()["site_id"] == world.alpha.room.id


def test_handing_a_device_to_another_tenant_ends_its_shares_and_its_site(world):
    admin = world.as_user("alpha_admin")
    second_customer = Tenant(parent_id=world.alpha.partner.id, kind="customer", name="Alpha Zwei",
                             path=f"{world.alpha.partner.path}{new_path_segment()}/")
    world.db.add(second_customer)
    world.db.commit()

    response = admin.patch(f"{DEVICES}/{world.alpha.barrier.id}", json={"tenant_id": second_customer.id})

    assert response.status_code == 200, response.text
    assert response.json()["site_id"] is None
    assert admin.get(f"{DEVICES}/{world.alpha.barrier.id}/shares").json() == []
    assert world.as_user("alpha_end").get(f"{DEVICES}/{world.alpha.barrier.id}").status_code == 404


def test_deleting_a_device_deletes_its_telemetry(world, session_factory):
    from datetime import UTC, datetime

    from sqlalchemy import func

    from leitstand.telemetry.models import TelemetryPoint, TelemetryRollup
    from leitstand.telemetry.store import Point, write_points

    at = datetime.now(UTC).replace(microsecond=0)
    with session_factory() as db, db.begin():
        write_points(db.connection(), [Point(world.alpha.barrier.id, "cycles", at, 5.0, "Europe/Berlin"),
                                       Point(world.beta.barrier.id, "cycles", at, 7.0, "Europe/Berlin")])

    assert world.as_user("alpha_operator").delete(f"{DEVICES}/{world.alpha.barrier.id}").status_code == 204

    world.db.expire_all()
    for model in (TelemetryPoint, TelemetryRollup):
        remaining = world.db.scalars(select(model.device_id).distinct()).all()
        assert remaining == [world.beta.barrier.id]
    assert world.db.scalar(select(func.count()).select_from(TelemetryPoint)) == 1
