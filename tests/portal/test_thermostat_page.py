"""The thermostat page: room against target temperature, a stepped setpoint, one chart for both,
and the gateway the thermostats report through, whose last sign of life is their newest uplink."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from leitstand.devices.models import Device
from leitstand.ingest.message import DeviceMessage, MessageKind, Reading
from leitstand.licenses.models import License
from leitstand.licenses.service import term_end
from tests.helpers.world import ALPHA_MARK, World


def _license(world: World, device: Device) -> None:
    starts = date.today() - timedelta(days=30)
    world.db.add(License(device_id=device.id, tenant_id=device.tenant_id, starts_on=starts,
                         ends_on=term_end(starts, 12), term_months=12, auto_renew=True))


def _gateway(world: World) -> Device:
    gateway = Device(tenant_id=world.alpha.customer.id, type_key="gateway", serial_number="ALPHA-GW-0001",
                     name=f"Alpha Gateway {ALPHA_MARK}", site_id=world.alpha.room.id, labels=["lorawan"])
    world.db.add(gateway)
    world.db.flush()
    return gateway


def _report(app: Any, messages: list[DeviceMessage]) -> None:
    report = app.state.ingestor.accept(messages)
    assert not report.rejected, dict(report.rejected)


def _thermostat_reports(app: Any, serial: str, at: datetime, room: float, target: float,
                        gateway: str | None = None, **more: float | bool) -> None:
    """One uplink as the network server hands it on: the readings and the gateway that carried it."""
    values = {"temperature": room, "target_temperature": target, **more}
    readings = tuple(Reading(key, at, value) for key, value in values.items())
    messages = [DeviceMessage(serial=serial, kind=MessageKind.telemetry, received_at=at, readings=readings)]
    if gateway:
        messages.append(DeviceMessage(serial=serial, kind=MessageKind.attributes, received_at=at, sent_at=at,
                                      attributes={"gateway": gateway}))
    _report(app, messages)


def _licensed_thermostat(world: World) -> Device:
    _license(world, world.alpha.thermostat)
    world.db.commit()
    return world.alpha.thermostat


def _day_of_heating(app: Any, serial: str, end: datetime) -> None:
    """A day of quarter-hour uplinks: the target drops to 17 °C at night, the room follows slowly,
    and a window opened an hour and a half ago has cooled it below the target."""
    room = 20.0
    for n in range(96, -1, -1):
        at = end - timedelta(minutes=15 * n)
        local_hour = at.astimezone(ZoneInfo("Europe/Berlin")).hour
        target = 22.0 if 6 <= local_hour < 22 else 17.0
        window_open = n == 6
        room = round(room - 2.0 if window_open else room + (target - room) * 0.12, 2)
        valve = round(max(0.0, min(100.0, (target - room) * 40)), 1)
        _thermostat_reports(app, serial, at, room, target, valve_opening=valve, battery=round(87 - n * 0.01, 2),
                            rssi=-97.0, window_open=window_open)


def test_the_headline_tile_shows_the_room_temperature_against_the_target_in_german(world: World, app: Any):
    thermostat = _licensed_thermostat(world)
    _thermostat_reports(app, thermostat.serial_number, datetime.now(UTC) - timedelta(minutes=2), 21.5, 22.0)

    html = world.as_user("alpha_operator").get(f"/devices/{thermostat.id}").text

    tile = re.search(r'<div class="tile headline"[^>]*>(.*?)</div>\s*</div>', html, re.S)
    assert tile, "no headline tile"
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", tile.group(1))).strip()
    assert "21,5 °C" in text and "Soll 22,0 °C" in text and "Raumtemperatur" in text


def test_the_setpoint_starts_at_the_stored_target_and_plus_raises_it_by_the_step(
    page: Page, portal_url: str, world: World, app: Any, login,  # type: ignore[no-untyped-def]
):
    thermostat = _licensed_thermostat(world)
    _thermostat_reports(app, thermostat.serial_number, datetime.now(UTC) - timedelta(minutes=2), 20.8, 21.0)
    login(page, "admin@alpha.test")
    page.goto(f"/devices/{thermostat.id}")

    setpoint = page.locator('form[data-command="set_target_temperature"] input[name="celsius"]')
    assert float(setpoint.input_value()) == 21.0
    raise_button = page.get_by_role("button", name="Sollwert erhöhen")
    lower_button = page.get_by_role("button", name="Sollwert senken")
    raise_button.click()
    expect(setpoint).to_have_value(re.compile(r"^21\.50?$"))
    # From the keyboard too: the buttons are plain buttons in the tab order.
    lower_button.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(setpoint).to_have_value(re.compile(r"^20\.50?$"))
    # Never past the declared maximum.
    setpoint.fill("29.5")
    raise_button.click()
    raise_button.click()
    expect(setpoint).to_have_value(re.compile(r"^30(\.0+)?$"))


def test_the_chart_draws_room_and_target_temperature_together_with_a_legend(
    page: Page, portal_url: str, world: World, app: Any, login,  # type: ignore[no-untyped-def]
):
    thermostat = _licensed_thermostat(world)
    _day_of_heating(app, thermostat.serial_number, datetime.now(UTC) - timedelta(minutes=1))
    login(page, "admin@alpha.test")
    page.goto(f"/devices/{thermostat.id}")

    chart = page.locator("[data-device-chart]")
    expect(chart).to_have_attribute("data-state", "ready")
    expect(chart).to_have_attribute("data-series", "temperature,target_temperature")
    legend = chart.locator(".u-legend .u-series .u-label")
    expect(legend).to_contain_text(["Raumtemperatur", "Solltemperatur"])


def test_a_gateway_was_last_seen_when_its_thermostat_last_reported(world: World, app: Any):
    thermostat = _licensed_thermostat(world)
    gateway = _gateway(world)
    world.db.commit()
    five_minutes_ago = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    _thermostat_reports(app, thermostat.serial_number, five_minutes_ago, 21.0, 21.0, gateway=gateway.serial_number)
    api = world.as_user("alpha_operator")
    local = five_minutes_ago.astimezone(ZoneInfo("Europe/Berlin"))
    day, time = local.strftime("%d.%m.%Y"), local.strftime("%H:%M")

    status = api.get(f"/devices/{gateway.id}").text
    headline = re.search(r'<div class="device-connectivity".*?</div>', status, re.S)
    assert headline and f'datetime="{five_minutes_ago.isoformat()}"' in headline.group(0)
    assert day in headline.group(0) and time in headline.group(0)
    assert "nie gemeldet" not in status and 'data-connectivity="online"' in status

    row = re.search(rf'<tr data-device-id="{gateway.id}">(.*?)</tr>', api.get("/devices?type=gateway").text, re.S)
    assert row and day in row.group(1) and time in row.group(1) and "nie" not in row.group(1)


def test_another_tenant_cannot_read_the_gateway(world: World, app: Any):
    gateway = _gateway(world)
    world.db.commit()

    for path in ("", "/status", "/series.json?metric=cpu_temperature"):
        response = world.as_user("beta_admin").get(f"/devices/{gateway.id}{path}")
        assert response.status_code == 404
        assert ALPHA_MARK not in response.text


def test_a_german_desktop_screenshot_of_a_thermostat_with_a_day_of_data(
    browser: Any, portal_url: str, world: World, app: Any, login,  # type: ignore[no-untyped-def]
):
    from tests.portal.conftest import new_context
    from tests.helpers.portal import shot

    thermostat = _licensed_thermostat(world)
    _day_of_heating(app, thermostat.serial_number, datetime.now(UTC) - timedelta(minutes=1))
    context = new_context(browser, portal_url, viewport={"width": 1280, "height": 900}, locale="de-DE")
    page = context.new_page()
    login(page, "admin@alpha.test")
    page.goto(f"/devices/{thermostat.id}")
    expect(page.locator("[data-device-chart]")).to_have_attribute("data-state", "ready")
    expect(page.locator(".tile.headline")).to_contain_text("Soll")
    shot(page, "thermostat", full_page=False)  # docs/screenshots/thermostat.png is a copy of this one
    context.close()
