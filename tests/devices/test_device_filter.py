"""The shared device filter (leitstand.devices.queries): each clause against a real database.

The world's session is unscoped, so every clause is seen on both organisations' devices.
"""

from __future__ import annotations

import pytest

from leitstand.devices.models import Device
from leitstand.devices.queries import NO_SITE, DeviceFilter, matching
from tests.helpers.fleet import add_depot_fleet


@pytest.fixture
def fleet(world):  # type: ignore[no-untyped-def]
    """Beside each organisation's barrier and thermostat (in its room): Alpha's gateway in the
    building, a barrier at a second site, and a sensor not placed at any site."""
    add_depot_fleet(world, Device(tenant_id=world.alpha.customer.id, type_key="generic_sensor",
                                  serial_number="ALPHA-SEN_100%", name="Lager Sensor", site_id=None, labels=[]))
    return world


def serials(world, wanted: DeviceFilter) -> set[str]:  # type: ignore[no-untyped-def]
    return set(world.db.scalars(matching(wanted).with_only_columns(Device.serial_number)))


def test_an_empty_filter_matches_every_device(fleet):
    assert serials(fleet, DeviceFilter()) == {
        "ALPHA-BAR-0001", "ALPHA-THM-0001", "ALPHA-GW-0001", "ALPHA-BAR-0002", "ALPHA-SEN_100%",
        "BETA-BAR-0001", "BETA-THM-0001",
    }


def test_tenant(fleet):
    assert serials(fleet, DeviceFilter(tenant_id=fleet.beta.customer.id)) == {"BETA-BAR-0001", "BETA-THM-0001"}


def test_a_site_takes_everything_below_it_and_nothing_beside_it(fleet):
    alpha = fleet.alpha

    assert serials(fleet, DeviceFilter(within_site=alpha.site.path)) == {"ALPHA-BAR-0001", "ALPHA-THM-0001", "ALPHA-GW-0001"}
    assert serials(fleet, DeviceFilter(within_site=alpha.building.path)) == {
        "ALPHA-BAR-0001", "ALPHA-THM-0001", "ALPHA-GW-0001"}
    assert serials(fleet, DeviceFilter(within_site=alpha.room.path)) == {"ALPHA-BAR-0001", "ALPHA-THM-0001"}


def test_no_site_matches_no_device(fleet):
    """What a list asks for when the reader names a site it cannot see."""
    assert serials(fleet, DeviceFilter(within_site=NO_SITE)) == set()


def test_type(fleet):
    assert serials(fleet, DeviceFilter(type_key="barrier")) == {"ALPHA-BAR-0001", "ALPHA-BAR-0002", "BETA-BAR-0001"}


def test_a_label_matches_whole_labels_only(fleet):
    assert serials(fleet, DeviceFilter(label="lorawan")) == {"ALPHA-GW-0001"}
    assert serials(fleet, DeviceFilter(label="dach")) == {"ALPHA-GW-0001"}
    assert serials(fleet, DeviceFilter(label="einfahrt")) == {"ALPHA-BAR-0001", "BETA-BAR-0001"}
    assert serials(fleet, DeviceFilter(label="fahrt")) == set()


def test_search_finds_part_of_the_name_or_serial_in_any_case(fleet):
    assert serials(fleet, DeviceFilter(search="depot")) == {"ALPHA-BAR-0002"}
    assert serials(fleet, DeviceFilter(search="thm-0001")) == {"ALPHA-THM-0001", "BETA-THM-0001"}
    assert serials(fleet, DeviceFilter(search="lager")) == {"ALPHA-SEN_100%"}


def test_search_takes_like_wildcards_literally(fleet):
    assert serials(fleet, DeviceFilter(search="%")) == {"ALPHA-SEN_100%"}
    assert serials(fleet, DeviceFilter(search="SEN_")) == {"ALPHA-SEN_100%"}
    assert serials(fleet, DeviceFilter(search="BAR_")) == set()


def test_clauses_combine(fleet):
    alpha = fleet.alpha

    found = serials(fleet, DeviceFilter(tenant_id=alpha.customer.id, within_site=alpha.site.path, type_key="barrier",
                                        label="einfahrt", search="schranke"))

    assert found == {"ALPHA-BAR-0001"}
    assert serials(fleet, DeviceFilter(within_site=alpha.site.path, type_key="gateway", label="einfahrt")) == set()
