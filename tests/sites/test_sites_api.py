"""The site tree over the API: what may sit below what, coordinates, search, groups, deletion."""

from __future__ import annotations

import pytest

from leitstand.devices.models import Device
from tests.helpers.world import BETA_MARK

SITES = "/api/v1/sites"
GROUPS = "/api/v1/site-groups"


@pytest.fixture
def api(world):  # type: ignore[no-untyped-def]
    return world.as_user("alpha_operator")


def create(api, kind: str, name: str, **fields):  # type: ignore[no-untyped-def]
    return api.post(SITES, json={"kind": kind, "name": name, **fields})


def names(response) -> set[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["items"]}


# --- the tree ------------------------------------------------------------------------------


def test_site_building_area_room_chain(world, api):
    tenant_id = world.alpha.customer.id
    site = create(api, "site", "Bürocampus", tenant_id=tenant_id, city="Kiel")
    assert site.status_code == 201, site.text
    building = create(api, "building", "Haus B", parent_id=site.json()["id"])
    assert building.status_code == 201, building.text
    floor = create(api, "area", "2. OG", parent_id=building.json()["id"])
    assert floor.status_code == 201, floor.text
    wing = create(api, "area", "Westflügel", parent_id=floor.json()["id"])
    assert wing.status_code == 201, wing.text
    room = create(api, "room", "Besprechung 2.12", parent_id=wing.json()["id"])
    assert room.status_code == 201, room.text
    yard = create(api, "area", "Hof", parent_id=site.json()["id"])
    assert yard.status_code == 201, yard.text

    assert room.json()["parent_id"] == wing.json()["id"]
    assert {r.json()["tenant_id"] for r in (site, building, floor, wing, room, yard)} == {tenant_id}


@pytest.mark.parametrize(
    ("kind", "parent"),
    [
        ("room", "site"),  # a room belongs in a building or an area
        ("building", "building"),
        ("building", "room"),
        ("site", "site"),  # a site is always top level
        ("area", "room"),
        ("room", "room"),
    ],
)
def test_children_must_fit_below_their_parent(world, api, kind, parent):
    parents = {"site": world.alpha.site, "building": world.alpha.building, "room": world.alpha.room}

    response = create(api, kind, "Falsch platziert", parent_id=parents[parent].id)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("kind", ["building", "area", "room"])
def test_only_a_site_may_stand_alone(world, api, kind):
    assert create(api, kind, "Ohne Eltern", tenant_id=world.alpha.customer.id).status_code == 422


def test_a_top_level_site_needs_a_tenant(api):
    assert create(api, "site", "Niemandsland").status_code == 422


def test_a_child_takes_its_parents_tenant(world, api):
    response = create(api, "building", "Haus C", parent_id=world.alpha.site.id)

    assert response.status_code == 201
    assert response.json()["tenant_id"] == world.alpha.customer.id


def test_a_child_cannot_name_another_tenant_than_its_parents(world):
    api = world.as_user("alpha_admin")

    response = create(api, "building", "Haus D", parent_id=world.alpha.site.id, tenant_id=world.alpha.end_customer.id)

    assert response.status_code == 422


def test_a_parent_of_another_organisation_is_404(world, api):
    assert create(api, "building", "Kuckucksei", parent_id=world.beta.site.id).status_code == 404
    assert create(api, "site", "Kuckucksei", tenant_id=world.beta.customer.id).status_code == 404


# --- coordinates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "coordinates",
    [{"latitude": 91}, {"latitude": -90.5}, {"longitude": 180.01}, {"longitude": -181}],
)
def test_coordinates_out_of_range_are_422(world, api, coordinates):
    response = create(api, "site", "Jenseits", tenant_id=world.alpha.customer.id, **coordinates)

    assert response.status_code == 422
    assert response.json()["errors"]


def test_coordinates_at_the_limits_are_fine(world, api):
    response = create(api, "site", "Pol", tenant_id=world.alpha.customer.id, latitude=90, longitude=-180)

    assert response.status_code == 201
    assert (response.json()["latitude"], response.json()["longitude"]) == (90, -180)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_cannot_be_stored(world, api, literal):
    # Python's JSON parser accepts these non-standard literals; the schema must not.
    body = f'{{"kind": "site", "name": "Nirgendwo", "tenant_id": {world.alpha.customer.id}, "latitude": {literal}}}'

    created = api.post(SITES, content=body, headers={"content-type": "application/json"})
    updated = api.patch(f"{SITES}/{world.alpha.site.id}", content=f'{{"longitude": {literal}}}',
                        headers={"content-type": "application/json"})

    assert created.status_code == 422
    assert updated.status_code == 422
    assert api.get(f"{SITES}/{world.alpha.site.id}").json()["longitude"] == 10.0


def test_update_validates_coordinates_too(world, api):
    assert api.patch(f"{SITES}/{world.alpha.site.id}", json={"latitude": 91}).status_code == 422
    moved = api.patch(f"{SITES}/{world.alpha.site.id}", json={"latitude": 54.32, "longitude": 10.13})
    assert moved.status_code == 200
    assert moved.json()["latitude"] == 54.32


# --- search and filters -------------------------------------------------------------------


@pytest.fixture
def more_sites(world, api):  # type: ignore[no-untyped-def]
    tenant_id = world.alpha.customer.id
    depot = create(api, "site", "Depot Nord", tenant_id=tenant_id, city="Lübeck", street="Hafenstraße 1").json()
    create(api, "area", "Rampe", parent_id=depot["id"])
    create(api, "site", "Zentrale", tenant_id=tenant_id, city="Kiel", street="Holstenstraße 100_%")
    return depot


def test_search_matches_name_city_and_street(world, api, more_sites):
    assert names(api.get(SITES, params={"q": "depot"})) == {"Depot Nord"}
    assert names(api.get(SITES, params={"q": "Lübeck"})) == {"Depot Nord"}
    assert names(api.get(SITES, params={"q": "KIEL"})) == {"Zentrale"}
    assert names(api.get(SITES, params={"q": "holsten"})) == {"Zentrale"}
    # Wildcards are taken literally.
    assert names(api.get(SITES, params={"q": "100_%"})) == {"Zentrale"}
    assert names(api.get(SITES, params={"q": "_"})) == {"Zentrale"}


def test_filters(world, api, more_sites):
    alpha = world.alpha

    top_level = names(api.get(SITES, params={"top_level": True}))
    below_depot = names(api.get(SITES, params={"parent_id": more_sites["id"]}))
    rooms = names(api.get(SITES, params={"kind": "room"}))
    by_tenant = api.get(SITES, params={"tenant_id": alpha.customer.id}).json()["total"]
    other_tenant = api.get(SITES, params={"tenant_id": world.beta.customer.id}).json()["total"]

    assert top_level == {alpha.site.name, "Depot Nord", "Zentrale"}
    assert below_depot == {"Rampe"}
    assert rooms == {alpha.room.name}
    assert by_tenant == 6
    assert other_tenant == 0


def test_listing_never_shows_another_tenants_sites(world, api):
    response = api.get(SITES, params={"limit": 500})

    assert BETA_MARK not in response.text
    assert response.json()["total"] == 3


def test_paging(world, api, more_sites):
    first = api.get(SITES, params={"limit": 2, "offset": 0}).json()
    rest = api.get(SITES, params={"limit": 2, "offset": 2}).json()

    assert first["total"] == rest["total"] == 6
    assert len(first["items"]) == 2
    assert {item["id"] for item in first["items"]}.isdisjoint(item["id"] for item in rest["items"])


def test_a_site_technician_sees_only_the_granted_site(world):
    api = world.as_user("alpha_site_tech")
    world.as_user("alpha_operator").post(SITES, json={"kind": "site", "name": "Anderswo", "tenant_id": world.alpha.customer.id})

    assert names(api.get(SITES)) == {world.alpha.site.name, world.alpha.building.name, world.alpha.room.name}


# --- site groups -------------------------------------------------------------------------


def test_a_group_spans_rooms_of_several_buildings(world, api):
    alpha = world.alpha
    other_building = create(api, "building", "Haus Ost", parent_id=alpha.site.id).json()
    other_room = create(api, "room", "Raum Ost", parent_id=other_building["id"]).json()

    response = api.post(GROUPS, json={"tenant_id": alpha.customer.id, "name": "Alle Räume",
                                      "site_ids": [alpha.room.id, other_room["id"], alpha.room.id]})

    assert response.status_code == 201, response.text
    assert response.json()["site_ids"] == sorted([alpha.room.id, other_room["id"]])
    group_id = response.json()["id"]
    updated = api.patch(f"{GROUPS}/{group_id}", json={"site_ids": [other_room["id"]], "name": "Nur Ost"})
    assert updated.status_code == 200
    assert updated.json()["site_ids"] == [other_room["id"]]
    assert api.get(f"{GROUPS}/{group_id}").json()["name"] == "Nur Ost"


def test_a_group_cannot_hold_another_organisations_site(world, api):
    alpha = world.alpha

    created = api.post(GROUPS, json={"tenant_id": alpha.customer.id, "name": "Übergriff", "site_ids": [world.beta.room.id]})
    updated = api.patch(f"{GROUPS}/{alpha.group.id}", json={"site_ids": [alpha.room.id, world.beta.room.id]})

    assert created.status_code in (404, 422)
    assert updated.status_code in (404, 422)
    assert api.get(f"{GROUPS}/{alpha.group.id}").json()["site_ids"] == [alpha.room.id]
    assert [group["name"] for group in api.get(GROUPS).json()["items"]] == [alpha.group.name]


def test_a_group_holds_sites_of_its_own_tenant_only(world):
    alpha = world.alpha
    api = world.as_user("alpha_admin")
    tenant_site = create(api, "site", "Endkundenbüro", tenant_id=alpha.end_customer.id)
    assert tenant_site.status_code == 201

    response = api.post(GROUPS, json={"tenant_id": alpha.customer.id, "name": "Gemischt",
                                      "site_ids": [alpha.room.id, tenant_site.json()["id"]]})

    assert response.status_code == 422
    assert api.get(GROUPS, params={"tenant_id": alpha.customer.id}).json()["total"] == 1


def test_a_group_of_another_organisation_is_404(world, api):
    beta_group = world.beta.group

    assert api.get(f"{GROUPS}/{beta_group.id}").status_code == 404
    assert api.patch(f"{GROUPS}/{beta_group.id}", json={"name": "weg"}).status_code == 404
    assert api.delete(f"{GROUPS}/{beta_group.id}").status_code == 404
    assert api.post(GROUPS, json={"tenant_id": world.beta.customer.id, "name": "fremd"}).status_code == 404


# --- deleting ---------------------------------------------------------------------------


def test_a_site_with_children_cannot_be_deleted(world, api):
    alpha = world.alpha

    assert api.delete(f"{SITES}/{alpha.site.id}").status_code == 409
    assert api.delete(f"{SITES}/{alpha.building.id}").status_code == 409
    assert api.get(f"{SITES}/{alpha.site.id}").status_code == 200


def test_deleting_a_leaf_keeps_its_devices_without_a_site(world, api, system_db):
    alpha = world.alpha

    response = api.delete(f"{SITES}/{alpha.room.id}")

    assert response.status_code == 204
    assert api.get(f"{SITES}/{alpha.room.id}").status_code == 404
    system_db.expire_all()
    assert system_db.get(Device, alpha.barrier.id).site_id is None
    assert api.get(f"{GROUPS}/{alpha.group.id}").json()["site_ids"] == []
    assert api.delete(f"{SITES}/{alpha.building.id}").status_code == 204
    assert api.delete(f"{SITES}/{alpha.site.id}").status_code == 204


def test_another_organisations_site_cannot_be_changed_or_deleted(world, api):
    beta = world.beta

    assert api.get(f"{SITES}/{beta.room.id}").status_code == 404
    assert api.patch(f"{SITES}/{beta.room.id}", json={"name": "weg"}).status_code == 404
    assert api.delete(f"{SITES}/{beta.room.id}").status_code == 404


def test_a_read_only_user_cannot_write_sites(world):
    api = world.as_user("alpha_reader")

    assert api.get(SITES).status_code == 200
    assert create(api, "site", "Verboten", tenant_id=world.alpha.customer.id).status_code == 403
    assert api.delete(f"{SITES}/{world.alpha.room.id}").status_code == 403
