"""Sites: the map's markers and the list per user, one site's page, and the map and search in a browser."""

from __future__ import annotations

import base64
import re
import struct
import zlib

import pytest

from leitstand.clock import clock
from leitstand.ingest.message import DeviceMessage, MessageKind
from leitstand.sites.models import Site, SiteKind
from leitstand.tenancy.models import new_path_segment
from tests.helpers.world import ALPHA_MARK, BETA_MARK, World


@pytest.fixture(autouse=True)
def english(world: World) -> None:
    """Users default to German; these tests read the English texts."""
    for user in world.users.values():
        user.language = "en"
    world.db.commit()


def add_site(world: World, name: str, city: str, coordinates: tuple[float, float] | None) -> Site:
    site = Site(tenant_id=world.alpha.customer.id, kind=SiteKind.site, name=name, city=city,
                path=f"/{new_path_segment()}/", latitude=coordinates[0] if coordinates else None,
                longitude=coordinates[1] if coordinates else None)
    world.db.add(site)
    world.db.commit()
    return site


def heartbeat(app, serial: str) -> None:  # type: ignore[no-untyped-def]
    now = clock.now()
    assert not app.state.ingestor.accept(
        [DeviceMessage(serial=serial, kind=MessageKind.heartbeat, received_at=now, sent_at=now)]).rejected


# --- server side ----------------------------------------------------------------------------


def test_map_markers_are_the_users_own_sites_with_their_worst_state(world: World):
    add_site(world, "Alpha Lager ALPHA-7Q", "Kiel", (54.32, 10.13))
    add_site(world, "Alpha Depot ohne Koordinaten", "Lübeck", None)
    heartbeat(world.app, world.alpha.barrier.serial_number)

    markers = {m["name"]: m for m in world.as_user("alpha_admin").get("/sites/map.json").json()["markers"]}

    assert set(markers) == {world.alpha.site.name, "Alpha Lager ALPHA-7Q"}  # no coordinates: list only
    parkhaus = markers[world.alpha.site.name]
    assert parkhaus["health"] == "offline"  # the thermostat has never reported
    assert (parkhaus["devices"], parkhaus["online"]) == (2, 1)
    assert parkhaus["url"] == f"/sites/{world.alpha.site.id}"
    assert markers["Alpha Lager ALPHA-7Q"]["health"] == "empty"


def test_other_tenants_and_end_customers_get_no_markers_of_alpha(world: World):
    beta = world.as_user("beta_admin").get("/sites/map.json").json()["markers"]
    end = world.as_user("alpha_end").get("/sites/map.json").json()["markers"]

    assert [marker["name"] for marker in beta] == [world.beta.site.name]
    assert end == []


def test_the_site_page_shows_the_tree_devices_and_aggregates(world: World):
    html = world.as_user("alpha_admin").get(f"/sites/{world.alpha.room.id}").text

    # The breadcrumb leads through the parents.
    assert f'href="/sites/{world.alpha.site.id}"' in html and f'href="/sites/{world.alpha.building.id}"' in html
    assert world.alpha.barrier.name in html and world.alpha.thermostat.name in html
    assert "Radiator thermostat" in html and "Barrier drive" in html  # devices by type, in the user's language

    top = world.as_user("alpha_admin").get(f"/sites/{world.alpha.site.id}").text
    assert world.alpha.building.name in top and world.alpha.room.name in top  # the tree below
    assert 'id="site-devices"><span class="tile-value">2<' in top
    assert BETA_MARK not in top


def test_another_tenants_site_is_not_found(world: World):
    response = world.as_user("beta_admin").get(f"/sites/{world.alpha.site.id}")

    assert response.status_code == 404
    assert ALPHA_MARK not in response.text and "text/html" in response.headers["content-type"]
    assert world.as_user("alpha_end").get(f"/sites/{world.alpha.room.id}").status_code == 404


def test_a_site_technician_sees_the_granted_site(world: World):
    api = world.as_user("alpha_site_tech")

    assert api.get(f"/sites/{world.alpha.site.id}").status_code == 200
    assert [m["name"] for m in api.get("/sites/map.json").json()["markers"]] == [world.alpha.site.name]


def test_the_list_searches_name_address_and_city_and_filters_by_state_and_group(world: World):
    add_site(world, "Alpha Lager ALPHA-7Q", "Kiel", (54.32, 10.13))
    api = world.as_user("alpha_admin")

    by_city = api.get("/sites/list?q=kiel", headers={"HX-Request": "true"}).text
    assert "Alpha Lager" in by_city and world.alpha.site.name not in by_city and "<html" not in by_city
    assert "Alpha Lager" not in api.get("/sites/list?q=parkhaus").text

    empty_sites = api.get("/sites/list?health=empty").text
    assert "Alpha Lager" in empty_sites and world.alpha.site.name not in empty_sites
    assert world.alpha.site.name in api.get("/sites/list?health=offline").text

    in_group = api.get(f"/sites/list?group={world.alpha.group.id}").text  # the group holds a room of the Parkhaus
    assert world.alpha.site.name in in_group and "Alpha Lager" not in in_group
    # Wildcards are searched for literally, and nonsense filters mean "any".
    assert "No sites match" in api.get("/sites/list?q=%25").text
    assert "Alpha Lager" in api.get("/sites/list?health=bogus&group=x").text


def test_the_list_pages(world: World):
    for n in range(30):
        add_site(world, f"Alpha Filiale {n:02d}", "Hamburg", None)
    api = world.as_user("alpha_admin")

    first, second = api.get("/sites").text, api.get("/sites/list?page=2").text

    assert "Alpha Filiale 00" in first and "Page 1 of 2" in first and "Alpha Filiale 29" not in first
    assert "Alpha Filiale 29" in second and "Page 2 of 2" in second  # `page`: the links of the pager before


def listed_site_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-site-id="(\d+)"', html)]


def test_the_pager_links_by_offset_and_the_second_page_holds_the_rest_in_a_stable_order(world: World):
    # Thirty sites of one name: only the id keeps their order from one page to the next.
    added = sorted(add_site(world, "Alpha Filiale", "Hamburg", None).id for _ in range(30))
    api = world.as_user("alpha_admin")

    first = api.get("/sites/list?q=Filiale").text
    second = api.get("/sites/list?q=Filiale&offset=25").text

    assert listed_site_ids(first) == added[:25] and "offset=25" in first
    assert listed_site_ids(second) == added[25:] and "offset=0" in second and "Page 2 of 2" in second
    assert "30 sites" in second


def test_a_page_of_the_list_is_read_in_sql_with_the_filters_total(world: World):
    from leitstand.devices.models import Device
    from leitstand.portal.sites_queries import Health, SiteFilter, top_sites_page
    from leitstand.web.types import PageRequest

    empty = sorted(add_site(world, "Alpha Filiale", "Hamburg", None).id for _ in range(30))
    with_device = add_site(world, "Alpha Filiale", "Hamburg", None)
    world.db.add(Device(tenant_id=world.alpha.customer.id, type_key="barrier", serial_number="ALPHA-FIL-0001",
                        name="Alpha Filialschranke", site_id=with_device.id))  # never heard from: offline
    world.db.commit()

    page = top_sites_page(world.db, world.db, SiteFilter(text="Filiale", health=Health.empty), PageRequest(25, 25))
    offline = top_sites_page(world.db, world.db, SiteFilter(text="Filiale", health=Health.offline), PageRequest(25))

    assert [summary.site.id for summary in page.items] == empty[25:] and page.total == 30
    assert [summary.site.id for summary in offline.items] == [with_device.id] and offline.total == 1
    assert offline.items[0].counts.total == 1


# --- in a browser ---------------------------------------------------------------------------


def _grey_tile_png() -> str:
    """A 1x1 grey PNG as a data URL: map tiles that never leave the machine."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00\xd8")) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode()


@pytest.fixture
def local_tiles(app):  # type: ignore[no-untyped-def]
    app.state.settings.portal_tile_url = _grey_tile_png()
    app.state.settings.portal_tile_attribution = "Test tiles"


@pytest.mark.usefixtures("local_tiles")
def test_the_map_shows_markers_and_the_search_filters_the_list(app, world: World, page, login, shot):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    add_site(world, "Alpha Lager ALPHA-7Q", "Kiel", (54.32, 10.13))
    heartbeat(app, world.alpha.barrier.serial_number)
    requested_tiles: list[str] = []
    page.on("request", lambda request: requested_tiles.append(request.url) if "tile.openstreetmap" in request.url else None)
    login(page, "admin@alpha.test", next_url="/sites")

    expect(page.locator("#sites-map")).to_have_attribute("data-marker-count", "2")
    expect(page.locator(".site-marker")).to_have_count(2)
    expect(page.locator(".site-marker.health-offline")).to_have_count(1)  # the Parkhaus: its thermostat is offline
    expect(page.locator(".site-marker.health-empty")).to_have_count(1)
    shot(page, "sites-map")

    page.locator(".site-marker.health-offline").click()
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text(world.alpha.site.name)
    expect(popup).to_contain_text("1/2 online")

    rows = page.locator("#sites-list tbody tr")
    expect(rows).to_have_count(2)
    page.locator("#sites-search").fill("kiel")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Alpha Lager")
    page.locator("#sites-search").fill("")
    expect(rows).to_have_count(2)
    page.locator("select[name=health]").select_option("empty")
    expect(rows).to_have_count(1)
    assert requested_tiles == []  # nothing went to the internet


@pytest.mark.usefixtures("local_tiles")
def test_the_site_page_from_the_list(world: World, page, login, shot):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    login(page, "admin@alpha.test", next_url="/sites")
    page.locator("#sites-list").get_by_role("link", name=world.alpha.site.name).click()

    expect(page.locator("h1")).to_contain_text(world.alpha.site.name)
    expect(page.locator("#site-tree")).to_contain_text(world.alpha.room.name)
    expect(page.locator("#site-device-list")).to_contain_text(world.alpha.thermostat.name)
    shot(page, "site")


@pytest.mark.usefixtures("local_tiles")
def test_a_partner_admin_and_an_end_customer_see_different_sites(world: World, page, login):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    login(page, "admin@alpha.test", next_url="/sites")
    expect(page.locator("#sites-list")).to_contain_text(world.alpha.site.name)
    expect(page.locator(".site-marker")).to_have_count(1)
    page.context.clear_cookies()

    login(page, "end@alpha.test", next_url="/sites")
    expect(page.locator("#sites-map")).to_have_attribute("data-marker-count", "0")
    expect(page.locator("#sites-list")).to_contain_text("No sites yet")
    expect(page.locator("body")).not_to_contain_text(world.alpha.site.name)
    page.goto(f"/sites/{world.alpha.site.id}")
    expect(page.locator("h1")).to_contain_text("404")



def test_when_the_map_tiles_cannot_load_the_map_says_so_and_the_list_still_works(world: World, page, login):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    # No tile server answers (no internet, a firewall): every tile request fails.
    page.context.route("**/tile.openstreetmap.org/**", lambda route: route.abort())
    login(page, "admin@alpha.test", next_url="/sites")

    notice = page.locator("#sites-map-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Map tiles could not be loaded")
    expect(page.locator("#sites-map")).to_have_attribute("data-marker-count", "1")  # the sites are still marked
    page.locator("#sites-list").get_by_role("link", name=world.alpha.site.name).click()
    expect(page.locator("h1")).to_contain_text(world.alpha.site.name)
