"""Maintenance in a real browser: the board shows an overdue barrier; a technician writes an
inspection entry with its checklist and a PDF report; the barrier turns green."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select

from leitstand.clock import clock
from leitstand.maintenance import service
from leitstand.maintenance.models import InspectionAttachment, InspectionEntry, PlanKind

ADMIN = "admin@alpha.test"
REPORT = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_overdue_barrier_is_inspected_and_turns_green(page: Page, world, login, shot) -> None:  # type: ignore[no-untyped-def]
    barrier = world.alpha.barrier
    service.new_plan(world.db, barrier, {"name": "Annual safety inspection", "kind": PlanKind.interval,
                                         "interval_months": 12, "last_done_on": clock.now().date() - timedelta(days=400)})
    world.db.commit()

    login(page, ADMIN, next_url="/maintenance")
    red = page.locator("#maintenance-red")
    expect(red).to_contain_text(barrier.name)
    expect(page.locator("#maintenance-green")).not_to_contain_text(barrier.name)
    shot(page, "maintenance")

    red.get_by_role("link", name=barrier.name).click()
    expect(page.locator("h1 [data-maintenance]")).to_have_attribute("data-maintenance", "red")
    form = page.locator("#inspection-form")
    rows = form.locator("tr.check-item")
    for index in range(rows.count()):
        rows.nth(index).locator('input[value="ok"]').check()
    rows.nth(1).locator('input[value="not_ok"]').check()
    rows.nth(1).locator('input[name^="note-"]').fill("Lens dirty, cleaned")
    form.locator('textarea[name="findings"]').fill("Springs worn; replaced both.")
    form.locator('input[name="signature_name"]').fill("Max Weber")
    expect(form.locator('input[name="completed_plan_ids"]')).to_be_checked()
    form.locator('input[type="file"]').set_input_files(
        files=[{"name": "pruefbericht.pdf", "mimeType": "application/pdf", "buffer": REPORT}])
    form.locator('button[type="submit"]').click()

    entry = page.locator("article.inspection-entry").first
    expect(entry).to_contain_text("Springs worn; replaced both.")
    expect(entry).to_contain_text("Lens dirty, cleaned")
    expect(entry.locator("a.attachment")).to_have_text("pruefbericht.pdf")
    expect(page.locator("h1 [data-maintenance]")).to_have_attribute("data-maintenance", "green")
    shot(page, "inspection-book")

    world.db.expire_all()
    stored = world.db.scalars(select(InspectionEntry).where(InspectionEntry.device_id == barrier.id)).one()
    assert stored.signature_name == "Max Weber" and stored.checklist[1]["result"] == "not_ok"
    attachment = world.db.scalars(select(InspectionAttachment)).one()
    assert attachment.media_type == "application/pdf" and attachment.entry_id == stored.id

    page.goto("/maintenance")
    expect(page.locator("#maintenance-green")).to_contain_text(barrier.name)
