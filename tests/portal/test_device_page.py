"""The device page in a real browser: live status, a command to a simulated barrier, the chart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from leitstand.accounts.models import User
from leitstand.ingest.message import ReadingStatus
from leitstand.telemetry.store import Point, write_points
from tests.portal.devices_support import SimulatorSender
from tests.helpers.world import World


@pytest.fixture
def devices_online(app: Any) -> Iterator[SimulatorSender]:
    """Commands from the app reach simulated devices, whose answers come back through ingest."""
    sender = SimulatorSender(app.state.ingestor)
    previous = app.state.commands.transport_for("native")
    app.state.commands.attach("native", sender)
    yield sender
    app.state.commands.attach("native", previous)
    sender.close()


def test_opening_a_barrier_changes_its_state_and_cycle_counter(
    page: Page, portal_url: str, world: World, login, shot, devices_online: SimulatorSender,  # type: ignore[no-untyped-def]
):
    barrier = devices_online.add(world.alpha.barrier.serial_number, "barrier")
    cycles_before = barrier.cycles
    login(page, "admin@alpha.test")
    page.goto(f"/devices/{world.alpha.barrier.id}")

    position = page.locator('#device-status [data-reading="position"]')
    counter = page.locator('#device-status [data-reading="cycles"]')
    expect(page.locator('#device-status [data-connectivity="online"]')).to_be_visible()
    expect(position).to_have_attribute("data-value", "closed")
    expect(counter).to_have_attribute("data-value", str(cycles_before))
    history = page.locator("#device-commands tbody tr")
    expect(history).to_have_count(1)  # the world's earlier command

    page.locator('button[data-command="open"]').click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text(world.alpha.barrier.name)
    dialog.locator('button[value="ok"]').click()

    expect(page.locator("[data-progress-status]")).to_have_attribute("data-status", "confirmed")
    expect(page.locator('#command-progress [data-step="delivered"]')).to_have_class("done")
    expect(page.locator('#command-progress [data-step="queued"]')).to_be_hidden()  # MQTT sends at once
    expect(position).to_have_attribute("data-value", "open")
    expect(position.locator(".tile-value")).to_have_text("offen")  # the user reads German
    expect(counter).to_have_attribute("data-value", str(cycles_before + 1))
    expect(history).to_have_count(2)
    expect(history.first).to_have_attribute("data-status", "confirmed")
    expect(history.first).to_contain_text("Öffnen")
    assert barrier.position == "open"
    shot(page, "device")


def test_a_command_queued_at_the_network_shows_that_step_until_the_device_fetches_it(
    page: Page, portal_url: str, world: World, login, devices_online: SimulatorSender,  # type: ignore[no-untyped-def]
):
    barrier = devices_online.add(world.alpha.barrier.serial_number, "barrier")
    devices_online.queueing = True  # as a LoRaWAN network server: the downlink waits for the next uplink
    login(page, "admin@alpha.test")
    page.goto(f"/devices/{world.alpha.barrier.id}")
    badge = page.locator("[data-progress-status]")
    step = {name: page.locator(f'#command-progress [data-step="{name}"]')
            for name in ("requested", "queued", "sent", "delivered", "final")}

    page.locator('button[data-command="open"]').click()
    page.locator('#confirm-dialog button[value="ok"]').click()

    expect(badge).to_have_attribute("data-status", "queued")
    expect(badge).to_have_text("in Warteschlange beim Netzserver")
    expect(step["queued"]).to_be_visible()
    expect(step["queued"]).to_have_text("Wartet beim Netzserver")
    expect(step["queued"]).to_have_class("done")
    expect(step["sent"]).not_to_have_class("done")
    expect(step["final"]).to_have_text("Bestätigt")
    expect(step["final"]).not_to_have_class("done")
    assert barrier.position == "closed"  # nothing reached the device yet

    devices_online.release()  # the device's next uplink fetches the command

    expect(badge).to_have_attribute("data-status", "confirmed")
    expect(badge).to_have_text("bestätigt")
    expect(step["queued"]).to_be_visible()  # it happened, so the bar keeps showing it
    for name in ("requested", "queued", "sent", "delivered", "final"):
        expect(step[name]).to_have_class("done")
    expect(page.locator("#device-commands tbody tr").first).to_have_attribute("data-status", "confirmed")


def test_a_refused_command_says_why_and_sends_nothing(
    page: Page, portal_url: str, world: World, login, devices_online: SimulatorSender,  # type: ignore[no-untyped-def]
):
    login(page, "admin@alpha.test")
    page.goto(f"/devices/{world.alpha.thermostat.id}")

    form = page.locator('form[data-command="set_target_temperature"]')
    form.locator('input[name="celsius"]').fill("22.5")
    form.locator("button[type=submit]").click()

    # The world's thermostat has no license: the API refuses, the page shows its reason.
    expect(page.locator(".toast").first).to_contain_text("Lizenz des Geräts: ohne Lizenz")
    expect(page.locator("#command-progress")).to_be_hidden()
    expect(page.locator("#device-commands .empty")).to_be_visible()


def test_a_read_only_user_sees_the_device_but_no_command_buttons(page: Page, portal_url: str, world: World, login):  # type: ignore[no-untyped-def]
    login(page, "reader@alpha.test")
    page.goto(f"/devices/{world.alpha.barrier.id}")

    expect(page.get_by_role("heading", name=world.alpha.barrier.name)).to_be_visible()
    expect(page.locator("#device-status")).to_be_visible()
    expect(page.locator("[data-command]")).to_have_count(0)
    expect(page.locator("#device-control")).to_have_count(0)


def _seed_motor_temperature(app: Any, device_id: int, days: int) -> None:  # type: ignore[no-untyped-def]
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    every = timedelta(minutes=15)
    points = [Point(device_id, "motor_temperature", end - every * n, 30.0 + (n % 96) / 8, "Europe/Berlin")
              for n in range(days * 96)]
    with app.state.engine.begin() as connection:
        write_points(connection, points)


def test_the_chart_draws_a_window_and_reloads_when_the_window_changes(
    page: Page, portal_url: str, world: World, app: Any, login, shot,  # type: ignore[no-untyped-def]
):
    _seed_motor_temperature(app, world.alpha.barrier.id, days=40)
    login(page, "admin@alpha.test")
    page.goto(f"/devices/{world.alpha.barrier.id}")
    chart = page.locator("[data-device-chart]")
    page.locator("[data-chart-metric]").select_option("motor_temperature")

    expect(chart).to_have_attribute("data-state", "ready")
    expect(chart).to_have_attribute("data-resolution", "raw")
    expect(chart).to_have_attribute("data-points", "96")
    expect(chart.locator("canvas")).to_be_visible()
    expect(page.locator("[data-chart-caption]")).to_contain_text("Einzelwerte")

    page.locator('button[data-window="7d"]').click()
    expect(chart).to_have_attribute("data-resolution", "hour")
    expect(chart).to_have_attribute("data-shown-window", "7d")
    expect(page.locator('button[data-window="7d"]')).to_have_attribute("aria-pressed", "true")
    points = int(chart.get_attribute("data-points") or 0)
    assert 7 * 24 <= points <= 7 * 24 + 1

    page.locator('button[data-window="1y"]').click()
    expect(chart).to_have_attribute("data-resolution", "day")
    expect(page.locator("[data-chart-caption]")).to_contain_text("Tagesmittel")

    # A custom range in the past with no data says so rather than drawing an empty frame.
    page.locator('button[data-window="custom"]').click()
    custom = page.locator("[data-chart-custom]")
    custom.locator('input[name="from"]').fill("2024-01-01T00:00")
    custom.locator('input[name="to"]').fill("2024-01-03T00:00")
    custom.locator("button[type=submit]").click()
    expect(chart).to_have_attribute("data-state", "empty")

    page.locator('button[data-window="24h"]').click()
    expect(chart).to_have_attribute("data-state", "ready")
    shot(page, "device-chart")


def _seed_a_meter_operators_values(app: Any, device_id: int) -> None:  # type: ignore[no-untyped-def]
    """A day of quarter-hour motor temperatures in which the operator substituted two missing
    values and estimated one, as a batch source delivers them."""
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    every = timedelta(minutes=15)
    statuses = {10: ReadingStatus.substitute, 11: ReadingStatus.substitute, 40: ReadingStatus.estimated}
    points = [Point(device_id, "motor_temperature", end - every * n, 30.0 + n / 8, "Europe/Berlin",
                    status=statuses.get(n, ReadingStatus.measured))
              for n in range(96)]
    with app.state.engine.begin() as connection:
        write_points(connection, points)


def _speaks(app: Any, email: str, language: str) -> None:  # type: ignore[no-untyped-def]
    with app.state.engine.begin() as connection:
        connection.execute(update(User).where(User.email == email).values(language=language))


def test_the_chart_marks_substitute_and_estimated_values_in_its_legend_and_caption(
    page: Page, portal_url: str, world: World, app: Any, login, shot,  # type: ignore[no-untyped-def]
):
    _seed_a_meter_operators_values(app, world.alpha.barrier.id)
    login(page, "admin@alpha.test")
    page.goto(f"/devices/{world.alpha.barrier.id}")
    chart = page.locator("[data-device-chart]")
    caption = page.locator("[data-chart-caption]")
    page.locator("[data-chart-metric]").select_option("motor_temperature")

    expect(chart).to_have_attribute("data-state", "ready")
    expect(chart).to_have_attribute("data-resolution", "raw")
    expect(chart).to_have_attribute("data-marked", "substitute,estimated")
    # Said in words beside the canvas (the caption is read out), and named in the legend.
    expect(caption).to_contain_text("96 Werte · Einzelwerte · 2 Ersatzwerte · 1 Schätzwert")
    legend = chart.locator(".u-legend")
    expect(legend).to_contain_text("Ersatzwert")
    expect(legend).to_contain_text("Schätzwert")
    expect(legend).not_to_contain_text("Vorläufiger Wert")
    shot(page, "device-chart-substitute-values")

    # A week is drawn in hourly buckets: the buckets holding such values are marked.
    page.locator('button[data-window="7d"]').click()
    expect(chart).to_have_attribute("data-resolution", "hour")
    expect(chart).to_have_attribute("data-marked", "substitute,estimated")
    expect(caption).to_contain_text("Stundenmittelwerte · 2 Ersatzwerte · 1 Schätzwert")

    _speaks(app, "admin@alpha.test", "en")
    page.reload()
    page.locator("[data-chart-metric]").select_option("motor_temperature")
    expect(chart).to_have_attribute("data-state", "ready")
    expect(caption).to_contain_text("96 values · individual readings · 2 substitute values · 1 estimated value")
    expect(chart.locator(".u-legend")).to_contain_text("Substitute value")
    expect(chart.locator(".u-legend")).to_contain_text("Estimated value")


def test_a_chart_of_measured_values_only_has_no_marks(
    page: Page, portal_url: str, world: World, app: Any, login,  # type: ignore[no-untyped-def]
):
    _seed_motor_temperature(app, world.alpha.barrier.id, days=1)
    login(page, "admin@alpha.test")
    page.goto(f"/devices/{world.alpha.barrier.id}")
    chart = page.locator("[data-device-chart]")
    page.locator("[data-chart-metric]").select_option("motor_temperature")

    expect(chart).to_have_attribute("data-state", "ready")
    expect(chart).to_have_attribute("data-marked", "")
    expect(page.locator("[data-chart-caption]")).to_have_text("96 Werte · Einzelwerte")
    expect(chart.locator(".u-legend")).not_to_contain_text("Ersatzwert")


def test_an_end_customer_sees_only_the_commands_their_grant_allows_and_no_empty_sites_entry(
    page: Page, portal_url: str, world: World, login,  # type: ignore[no-untyped-def]
):
    login(page, "end@alpha.test")
    # They see no site at all: a "Sites" entry would lead to an empty map.
    expect(page.locator('.main-nav a[href="/devices"]')).to_be_visible()
    expect(page.locator('.main-nav a[href="/sites"]')).to_have_count(0)
    page.goto(f"/devices/{world.alpha.barrier.id}")

    expect(page.locator('button[data-command="open"]')).to_be_visible()
    expect(page.locator('button[data-command="close"]')).to_be_visible()
    # Restarting the controller is maintenance, which the end customer's grant does not hold.
    expect(page.locator('button[data-command="reboot"]')).to_have_count(0)

    page.context.clear_cookies()
    login(page, "admin@alpha.test")
    expect(page.locator('.main-nav a[href="/sites"]')).to_be_visible()
    page.goto(f"/devices/{world.alpha.barrier.id}")
    expect(page.locator('button[data-command="reboot"]')).to_be_visible()


def test_an_expired_license_disables_the_commands_says_why_and_offers_a_renewal(
    page: Page, portal_url: str, world: World, login, shot,  # type: ignore[no-untyped-def]
):
    ended = datetime.now(UTC).date() - timedelta(days=3)
    world.alpha.license.ends_on = ended
    world.db.commit()
    login(page, "end@alpha.test")
    page.goto(f"/devices/{world.alpha.barrier.id}")

    control = page.locator("#device-control")
    expect(control.locator('button[data-command="open"]')).to_be_disabled()
    expect(control.locator("[data-license-reason]")).to_have_text(f"Lizenz abgelaufen am {ended:%d.%m.%Y}")
    # Renewing is for those who hold licences, not for the end customer.
    expect(page.locator("[data-renew-license]")).to_have_count(0)

    page.context.clear_cookies()
    login(page, "admin@alpha.test")
    page.goto(f"/devices/{world.alpha.barrier.id}")
    expect(control.locator('button[data-command="open"]')).to_be_disabled()
    shot(page, "device-license-expired")
    renew = page.get_by_role("button", name="Lizenz verlängern")
    renew.click()
    page.locator("#confirm-dialog").locator('button[value="ok"]').click()

    expect(control.locator('button[data-command="open"]')).to_be_enabled()
    expect(control.locator("[data-license-reason]")).to_have_count(0)
    expect(page.locator("[data-license]")).to_have_attribute("data-license", "active")
