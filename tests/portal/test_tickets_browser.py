"""Support in a real browser: open a ticket from the device page's support button and see its SLA clock;
issue a release code and see it once."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

ADMIN = "admin@alpha.test"


def test_open_a_ticket_from_the_device_pages_support_button(page: Page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    login(page, ADMIN, next_url=f"/devices/{world.alpha.barrier.id}")
    page.locator("#support-button").click()

    expect(page.locator("#ticket-reference")).to_have_text(world.alpha.barrier.name)
    page.locator("#ticket-class").select_option("1")
    page.locator("#ticket-title").fill("Schranke öffnet nicht")
    page.locator("#ticket-description").fill("Seit 7 Uhr bleibt die Schranke zu.")
    page.locator('#new-ticket-form button[type="submit"]').click()

    expect(page).to_have_url(re.compile(r"/tickets/\d+$"))
    expect(page.locator("#sla-clock .sla-badge")).to_have_attribute("data-sla", re.compile(r"running|breached"))
    expect(page.locator("h1")).to_contain_text("Schranke öffnet nicht")
    shot(page, "ticket")

    page.goto("/tickets")
    expect(page.locator("#ticket-table")).to_contain_text("Schranke öffnet nicht")
    shot(page, "tickets")


def test_a_release_code_is_shown_once(page: Page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    login(page, ADMIN, next_url="/support-access")
    page.locator("#code-note").fill("Ticket 4711")
    page.locator('#release-code-form button[type="submit"]').click()

    expect(page.locator("#new-code-value")).to_have_text(re.compile(r"^[A-Z0-9]{5}(-[A-Z0-9]{5}){3}$"))
    shot(page, "support-access")
    page.reload()
    expect(page.locator(".release-code-entry")).to_contain_text("Ticket 4711")
    expect(page.locator("#new-code")).to_be_hidden()
