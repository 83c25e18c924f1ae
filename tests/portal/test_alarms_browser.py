"""The alarm flow in a real browser: a simulated barrier reports an error code through the real
ingest path; the alarm appears live on the dashboard, its troubleshooting steps show on the alarm,
an operator acknowledges it in the portal, and it clears when the simulated barrier recovers.

Device protocol: an error code is reported as an event with the code; the device reports the same
code with {"active": false} in the event data when the fault is gone, which clears the alarm.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from leitstand.clock import clock
from tests.portal.devices_support import SimulatorSender, wait_for_live_subscribers
from tests.helpers.world import World


@pytest.fixture
def simulator(app: Any) -> Iterator[SimulatorSender]:
    sender = SimulatorSender(app.state.ingestor)
    yield sender
    sender.close()


def test_an_error_code_raises_a_live_alarm_that_is_acknowledged_and_clears_on_recovery(
    page: Page, portal_url: str, world: World, app: Any, login, shot, simulator: SimulatorSender,  # type: ignore[no-untyped-def]
) -> None:
    serial = world.alpha.barrier.serial_number
    barrier = simulator.add(serial, "barrier")
    login(page, "admin@alpha.test")
    page.goto("/")
    tile = page.locator("#tile-alarms [data-open-alarms]")
    expect(tile).to_have_attribute("data-open-alarms", "0")
    wait_for_live_subscribers(app)

    simulator.report([barrier.report_fault("E01", clock.now())])  # the boom is blocked

    expect(tile).to_have_attribute("data-open-alarms", "1")  # live: no reload
    expect(tile.locator('[data-severity="critical"]')).to_be_visible()
    expect(tile).to_contain_text("Schrankenbaum blockiert")  # the user reads German

    page.locator("#tile-alarms").click()
    expect(page).to_have_url(f"{portal_url}/alarms")
    row = page.locator("#alarm-table tr[data-alarm-id]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(world.alpha.barrier.name)
    shot(page, "alarms")

    row.get_by_role("link", name="Schrankenbaum blockiert").click()
    steps = page.locator("#alarm-steps li")
    expect(steps.first).to_contain_text("Fahrweg des Schrankenbaums auf Hindernisse prüfen.")
    expect(steps).to_have_count(3)
    state = page.locator("#alarm-panel [data-alarm-state]").first
    expect(state).to_have_attribute("data-alarm-state", "active")

    page.get_by_role("button", name="Quittieren").click()
    expect(state).to_have_attribute("data-alarm-state", "acknowledged")
    page.locator('textarea[name="text"]').fill("Techniker ist unterwegs")
    page.get_by_role("button", name="Kommentar hinzufügen").click()
    expect(page.locator(".alarm-comments")).to_contain_text("Techniker ist unterwegs")
    shot(page, "alarm")

    simulator.report([barrier.recover("E01", clock.now())])  # the simulated barrier recovers

    expect(page.locator("#alarm-panel [data-alarm-state]").first).to_have_attribute("data-alarm-state", "cleared")
    expect(page.locator("#alarm-panel")).to_contain_text("automatisch")
    page.goto("/")
    expect(page.locator("#tile-alarms [data-open-alarms]")).to_have_attribute("data-open-alarms", "0")
