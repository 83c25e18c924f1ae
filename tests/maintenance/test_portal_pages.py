"""Maintenance in the portal, rendered on the server: board, inspection book, tile, site lists."""

from __future__ import annotations

from datetime import UTC, datetime

from leitstand.clock import clock
from tests.helpers.world import PASSWORD, World

NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)


def _browser(world: World, email: str = "admin@alpha.test"):  # type: ignore[no-untyped-def]
    client = world.client
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


def _plans(world: World) -> None:
    api = world.as_user("alpha_admin")
    api.post(f"/api/v1/maintenance/devices/{world.alpha.barrier.id}/plans", json={
        "name": "Annual safety inspection", "kind": "interval", "interval_months": 12, "last_done_on": "2025-05-01"})
    api.post(f"/api/v1/maintenance/devices/{world.alpha.thermostat.id}/plans/defaults")


def test_board_groups_devices_by_light(world: World) -> None:
    clock.freeze(NOW)
    _plans(world)
    api = world.as_user("alpha_admin")
    page = api.get("/maintenance")
    assert page.status_code == 200
    red = page.text.split('id="maintenance-red"')[1].split("</section>")[0]
    green = page.text.split('id="maintenance-green"')[1].split("</section>")[0]
    assert world.alpha.barrier.name in red and world.alpha.thermostat.name in green
    filtered = api.get("/maintenance", params={"type": "thermostat"}).text
    assert world.alpha.barrier.name not in filtered
    assert world.beta.barrier.name not in page.text


def test_tile_counts_and_dashboard_loads_it(world: World) -> None:
    clock.freeze(NOW)
    _plans(world)
    api = world.as_user("alpha_admin")
    tile = api.get("/maintenance/tile").text
    assert 'data-light="green" title="Wartung aktuell">1<' in tile
    assert 'data-light="yellow" title="Wartung bald fällig">0<' in tile
    assert 'data-light="red" title="Wartung überfällig">1<' in tile
    dashboard = api.get("/dashboard/tiles").text
    assert 'hx-get="/maintenance/tile"' in dashboard
    # Beta sees none of Alpha's plans.
    assert 'data-light="red" title="Wartung überfällig">0<' in world.as_user("beta_admin").get("/maintenance/tile").text


def test_inspection_book_page_and_device_card(world: World) -> None:
    clock.freeze(NOW)
    _plans(world)
    api, barrier = world.as_user("alpha_admin"), world.alpha.barrier
    api.post(f"/api/v1/maintenance/devices/{barrier.id}/entries", json={
        "performed_on": "2026-06-01", "technician_name": "M. Weber", "findings": "Spring worn",
        "checklist": [{"item": "Boom", "result": "not_ok", "note": "bent"}]})
    book = api.get(f"/maintenance/devices/{barrier.id}").text
    assert "Spring worn" in book and "bent" in book and 'id="inspection-form"' in book
    assert "Schrankenbaum, Befestigung und Abfahrsicherung" in book  # the type's checklist, in German
    assert f"/api/v1/maintenance/devices/{barrier.id}/book.pdf" in book
    reader_book = world.as_user("alpha_reader").get(f"/maintenance/devices/{barrier.id}").text
    assert 'id="inspection-form"' not in reader_book
    assert 'hx-get="/maintenance/devices/%d/card"' % barrier.id in api.get(f"/devices/{barrier.id}").text
    card = api.get(f"/maintenance/devices/{barrier.id}/card").text
    assert 'data-maintenance="red"' in card and "Jährliche Sicherheitsprüfung" in card  # shown in German
    assert world.as_user("beta_admin").get(f"/maintenance/devices/{barrier.id}").status_code == 404


def test_site_list_and_service_history(world: World) -> None:
    clock.freeze(NOW)
    _plans(world)
    api, alpha = world.as_user("alpha_admin"), world.alpha
    sites = api.get("/sites").text
    assert 'data-maintenance="red"' in sites
    assert f'href="/maintenance/sites/{alpha.site.id}"' in api.get(f"/sites/{alpha.site.id}").text
    api.post(f"/api/v1/maintenance/devices/{alpha.thermostat.id}/entries", json={
        "performed_on": "2026-06-01", "technician_name": "J. Kraus", "findings": "Battery replaced"})
    history = api.get(f"/maintenance/sites/{alpha.site.id}").text
    assert "Battery replaced" in history and "Wartung überfällig: Jährliche Sicherheitsprüfung" in history
    assert world.as_user("beta_admin").get(f"/maintenance/sites/{alpha.site.id}").status_code == 404
