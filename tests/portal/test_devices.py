"""Device pages without a browser: what each user is shown, tenant isolation, chart resolution."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from leitstand.telemetry.store import Point, write_points
from tests.portal.devices_support import fits_sideways, wait_for_live_subscribers
from tests.helpers.world import ALPHA_MARK, BETA_MARK, World


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text[:500]
    return response.text


def command_buttons(html: str) -> list[str]:
    return re.findall(r'data-command="([a-z_]+)"', html)


def test_the_list_shows_the_users_devices_and_nothing_of_other_tenants(world: World):
    html = page_text(world.as_user("alpha_admin").get("/devices"))

    assert world.alpha.barrier.name in html and world.alpha.thermostat.name in html
    assert world.alpha.barrier.serial_number in html
    assert BETA_MARK not in html


def test_the_live_search_answers_with_the_table_fragment_only(world: World):
    response = world.as_user("alpha_admin").get(
        "/devices?q=THM", headers={"HX-Request": "true", "HX-Target": "device-table"})

    html = page_text(response)
    assert html.lstrip().startswith('<div id="device-table"')
    assert world.alpha.thermostat.name in html and world.alpha.barrier.name not in html


def test_filters_by_type_site_and_state(world: World):
    api = world.as_user("alpha_admin")
    by_type = page_text(api.get("/devices?type=barrier"))
    assert world.alpha.barrier.name in by_type and world.alpha.thermostat.name not in by_type

    by_site = page_text(api.get(f"/devices?site={world.alpha.site.id}"))  # the room lies below the site
    assert world.alpha.barrier.name in by_site

    never_seen = page_text(api.get("/devices?state=never"))
    assert world.alpha.barrier.name in never_seen
    assert world.alpha.barrier.name not in page_text(api.get("/devices?state=online"))
    # Nonsense in the URL is ignored rather than answered with an error page.
    assert world.alpha.barrier.name in page_text(api.get("/devices?state=bogus&type=NOT%20A%20KEY&page=x"))


def test_the_list_pages_through_many_devices(world: World):
    from leitstand.devices.models import Device

    world.db.add_all(Device(tenant_id=world.alpha.customer.id, type_key="barrier", serial_number=f"PAGE-{n:04d}",
                            name=f"Paged {n:04d}") for n in range(120))
    world.db.commit()
    api = world.as_user("alpha_operator")

    first = page_text(api.get("/devices?q=Paged"))
    assert "Paged 0000" in first and "Paged 0049" in first and "Paged 0050" not in first
    assert "offset=50" in first and "offset=100" not in first  # the pager links by offset, as every list's
    third = page_text(api.get("/devices?q=Paged&offset=100"))
    assert "Paged 0100" in third and "Paged 0119" in third and "Paged 0099" not in third
    assert "offset=50" in third and "offset=150" not in third
    # A link of the page-numbered pager before still leads to its page.
    numbered = page_text(api.get("/devices?q=Paged&page=3"))
    assert "Paged 0100" in numbered and "Paged 0119" in numbered and "Paged 0099" not in numbered


def test_an_end_customer_sees_only_the_device_shared_with_them(world: World):
    html = page_text(world.as_user("alpha_end").get("/devices"))

    assert world.alpha.barrier.name in html
    assert world.alpha.thermostat.name not in html


def test_the_device_page_shows_details_and_command_buttons_to_an_operator(world: World):
    html = page_text(world.as_user("alpha_operator").get(f"/devices/{world.alpha.barrier.id}"))

    assert world.alpha.barrier.serial_number in html
    assert f'href="/sites/{world.alpha.room.id}"' in html
    assert command_buttons(html) == ["open", "close", "reboot"]
    assert 'data-license="active"' in html
    assert "Zyklenzähler" in html  # the counter the type declares, in the user's language (German)


def test_no_command_buttons_without_device_command(world: World):
    html = page_text(world.as_user("alpha_reader").get(f"/devices/{world.alpha.barrier.id}"))

    assert world.alpha.barrier.name in html
    assert command_buttons(html) == []


def test_a_command_with_arguments_gets_inputs(world: World):
    html = page_text(world.as_user("alpha_operator").get(f"/devices/{world.alpha.thermostat.id}"))

    assert command_buttons(html) == ["set_target_temperature"]
    assert re.search(r'<input type="number" name="celsius"[^>]*min="5.0"[^>]*max="30.0"', html)


@pytest.mark.parametrize("path", ["", "/status", "/events", "/commands", "/series.json?metric=motor_temperature"])
def test_another_tenants_device_is_not_found(world: World, path: str):
    response = world.as_user("beta_admin").get(f"/devices/{world.alpha.barrier.id}{path}")

    assert response.status_code == 404
    assert ALPHA_MARK not in response.text


def test_fragments_show_status_events_and_command_history(world: World, app):
    from leitstand.ingest.message import DeviceMessage, MessageKind, Reading

    now = datetime.now(UTC)
    serial = world.alpha.barrier.serial_number
    app.state.ingestor.accept([
        DeviceMessage(serial=serial, kind=MessageKind.telemetry, received_at=now,
                      readings=(Reading("position", now, "open"), Reading("cycles", now, 4711))),
        DeviceMessage(serial=serial, kind=MessageKind.event, received_at=now, sent_at=now, event_code="E01"),
    ])
    api = world.as_user("alpha_operator")
    base = f"/devices/{world.alpha.barrier.id}"

    status = page_text(api.get(f"{base}/status"))
    assert 'data-connectivity="online"' in status
    assert re.search(r'data-reading="position" data-value="open"', status)
    assert "4.711" in status  # the cycle counter, German digit grouping
    events = page_text(api.get(f"{base}/events"))
    assert "E01" in events and "Schrankenbaum blockiert" in events
    history = page_text(api.get(f"{base}/commands"))
    assert f'data-command-id="{world.alpha.command.public_id}" data-status="confirmed"' in history


def test_an_event_code_outside_the_catalogue_is_shown_as_unknown(world: World, app):
    from leitstand.ingest.message import DeviceMessage, MessageKind

    now = datetime.now(UTC)
    serial = world.alpha.barrier.serial_number
    app.state.ingestor.accept([
        DeviceMessage(serial=serial, kind=MessageKind.event, received_at=now, sent_at=now, event_code="E01"),
        DeviceMessage(serial=serial, kind=MessageKind.event, received_at=now, sent_at=now, event_code="E99"),
    ])

    events = page_text(world.as_user("alpha_operator").get(f"/devices/{world.alpha.barrier.id}/events"))

    [unknown] = re.findall(r"<li data-event-kind=\"event\">.*?</li>", events, flags=re.S)
    assert "E99" in unknown and "unbekannter Code" in unknown  # the user reads German
    assert events.count("unbekannter Code") == 1  # E01 is in the catalogue


def _seed(app, device_id: int, key: str, start: datetime, every: timedelta, count: int) -> None:  # type: ignore[no-untyped-def]
    points = [Point(device_id, key, start + every * n, 20.0 + n % 5, "Europe/Berlin") for n in range(count)]
    with app.state.engine.begin() as connection:
        write_points(connection, points)


def _series(api, device_id: int, start: datetime, end: datetime, metric: str = "motor_temperature"):  # type: ignore[no-untyped-def]
    query = urlencode({"metric": metric, "from": start.isoformat(), "to": end.isoformat()})
    return api.get(f"/devices/{device_id}/series.json?{query}")


def test_series_picks_raw_points_for_a_day_and_rollups_for_longer_windows(world: World, app):
    device_id = world.alpha.barrier.id
    end = datetime.now(UTC).replace(microsecond=0)
    _seed(app, device_id, "motor_temperature", end - timedelta(days=40), timedelta(minutes=15), 40 * 96)
    api = world.as_user("alpha_operator")

    day = _series(api, device_id, end - timedelta(hours=24), end).json()
    assert day["resolution"] == "raw" and len(day["times"]) == 96
    week = _series(api, device_id, end - timedelta(days=7), end).json()
    assert week["resolution"] == "hour" and 7 * 24 <= len(week["times"]) <= 7 * 24 + 1
    assert all(20.0 <= value <= 24.0 for value in week["values"])
    year = _series(api, device_id, end - timedelta(days=365), end).json()
    assert year["resolution"] == "day" and 40 <= len(year["times"]) <= 42
    assert year["min"][5] == 20.0 and year["max"][5] == 24.0


def test_series_of_a_chatty_device_falls_back_to_five_minute_buckets(world: World, app):
    device_id = world.alpha.barrier.id
    end = datetime.now(UTC).replace(microsecond=0)
    _seed(app, device_id, "motor_temperature", end - timedelta(hours=6), timedelta(seconds=2), 6 * 1800)

    body = _series(world.as_user("alpha_operator"), device_id, end - timedelta(hours=6), end).json()
    assert body["resolution"] == "5m" and 72 <= len(body["times"]) <= 73


def test_series_refuses_unknown_metrics_and_backwards_windows(world: World):
    api = world.as_user("alpha_operator")
    device_id = world.alpha.barrier.id
    end = datetime.now(UTC)

    assert _series(api, device_id, end - timedelta(hours=1), end, metric="position").status_code == 404  # text state
    assert _series(api, device_id, end - timedelta(hours=1), end, metric="nonsense").status_code == 404
    assert _series(api, device_id, end, end - timedelta(hours=1)).status_code == 422
    assert _series(api, device_id, end - timedelta(days=5 * 365), end).status_code == 422


# --- in the browser ------------------------------------------------------------------------


def test_a_partner_admin_and_an_end_customer_see_different_devices(page, portal_url: str, world: World, app, login, shot):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from leitstand.ingest.message import DeviceMessage, MessageKind

    rows = page.locator(".device-table tbody tr")
    login(page, "admin@alpha.test")
    page.goto("/devices")
    expect(rows).to_have_count(2)
    barrier_row = rows.filter(has_text=world.alpha.barrier.name)
    expect(barrier_row).to_have_count(1)
    expect(rows.filter(has_text=world.alpha.thermostat.name)).to_have_count(1)

    # A device reporting in turns its dot green while the list is open.
    expect(barrier_row.locator(".dot")).not_to_have_class("dot online")
    wait_for_live_subscribers(app)
    now = datetime.now(UTC)
    app.state.ingestor.accept([DeviceMessage(serial=world.alpha.barrier.serial_number, kind=MessageKind.heartbeat,
                                             received_at=now, sent_at=now)])
    expect(barrier_row.locator(".dot")).to_have_class("dot online")
    expect(barrier_row.locator("[data-last-seen-cell] time")).to_be_visible()

    # The live search narrows the table as one types, without a page load, and keeps the URL.
    page.locator("input[name=q]").fill("THM")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(world.alpha.thermostat.name)
    expect(page).to_have_url(f"{portal_url}/devices?q=THM")
    page.locator("input[name=q]").fill("")
    expect(rows).to_have_count(2)
    shot(page, "devices")

    page.context.clear_cookies()
    login(page, "end@alpha.test")
    page.goto("/devices")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(world.alpha.barrier.name)
    rows.first.get_by_role("link", name=world.alpha.barrier.name).click()
    expect(page.get_by_role("heading", name=world.alpha.barrier.name)).to_be_visible()
    # The end customer may operate the barrier shared with them.
    expect(page.locator('button[data-command="open"]')).to_be_visible()


def test_the_device_list_on_a_phone(phone_page, portal_url: str, world: World, login, shot):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    login(phone_page, "admin@alpha.test")
    phone_page.goto("/devices")
    expect(phone_page.locator(".device-table tbody tr")).to_have_count(2)
    assert fits_sideways(phone_page)
    shot(phone_page, "devices-phone")
    phone_page.goto(f"/devices/{world.alpha.barrier.id}")
    expect(phone_page.locator("#device-status")).to_be_visible()
    assert fits_sideways(phone_page)
    shot(phone_page, "device-phone")


def _report(world: World, code: str | None = None) -> None:
    """The barrier says it is alive, or reports an error code, through the real ingest pipeline."""
    from leitstand.clock import clock
    from leitstand.ingest.message import DeviceMessage, MessageKind

    now = clock.now()
    kind = MessageKind.event if code else MessageKind.heartbeat
    report = world.app.state.ingestor.accept([DeviceMessage(serial=world.alpha.barrier.serial_number, kind=kind,
                                                            received_at=now, sent_at=now, event_code=code)])
    assert not report.rejected


def test_error_reported_shows_only_while_the_device_has_an_open_alarm_on_every_page(world: World):
    from sqlalchemy import select

    from leitstand.alarms.models import Alarm

    _report(world)
    _report(world, "E01")
    alarm = world.db.scalar(select(Alarm).where(Alarm.device_id == world.alpha.barrier.id, Alarm.code == "E01"))
    assert alarm is not None and alarm.is_open
    admin = world.as_user("alpha_admin")

    def verdicts() -> dict[str, bool]:
        dashboard = page_text(admin.get("/"))
        attention = dashboard[dashboard.index('id="problem-devices"'):dashboard.index('id="recent-events"')]
        device_page = page_text(admin.get(f"/devices/{world.alpha.barrier.id}"))
        listing = page_text(admin.get("/devices"))
        row = listing[listing.index(f'data-device-id="{world.alpha.barrier.id}"'):]
        row = row[:row.index("</tr>")]
        sites = page_text(admin.get("/sites"))
        return {
            "dashboard": world.alpha.barrier.name in attention and "Fehler gemeldet" in attention,
            "device page": 'data-verdict="problem"' in device_page and "Fehler gemeldet" in device_page,
            "device list": "Fehler gemeldet" in row,
            "sites": 'data-health="problem"' in sites[sites.index('id="sites-list"'):],
        }

    assert verdicts() == {"dashboard": True, "device page": True, "device list": True, "sites": True}

    # A technician fixed the boom and cleared the alarm: the error report of this morning is history.
    assert admin.post(f"/api/v1/alarms/{alarm.id}/clear").status_code == 200
    assert verdicts() == {"dashboard": False, "device page": False, "device list": False, "sites": False}
    device_page = page_text(admin.get(f"/devices/{world.alpha.barrier.id}"))
    assert 'data-connectivity="online"' in device_page


def _visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_event_chips_show_labels_and_keep_the_raw_code_for_technicians(world: World):
    from leitstand.clock import clock
    from leitstand.ingest.message import DeviceMessage, MessageKind, Reading

    now = clock.now()
    report = world.app.state.ingestor.accept([DeviceMessage(
        serial=world.alpha.barrier.serial_number, kind=MessageKind.telemetry, received_at=now,
        readings=(Reading("position", now, "open"),))])
    assert not report.rejected
    _report(world, "E01")
    admin = world.as_user("alpha_admin")

    events = page_text(admin.get(f"/devices/{world.alpha.barrier.id}/events"))
    dashboard = page_text(admin.get("/"))
    recent = dashboard[dashboard.index('id="recent-events"'):]
    for html in (events, recent):
        shown = _visible_text(html)
        assert "Baumstellung: offen" in shown and "Schrankenbaum blockiert" in shown
        assert "position=open" not in shown  # the raw code is the chip's tooltip only
        assert 'title="position=open"' in html and 'title="E01"' in html
