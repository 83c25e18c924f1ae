"""The portal on a 390 px phone, with the demo fleet in German: every list shows its rows as
cards that fit the screen without splitting a word, the bottom bar holds at most five entries
(the last, "Mehr", opens the rest), and the ticket form puts each label by its own field.

The phone screenshots of the README (docs/screenshots/phone-*.png) come from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from leitstand.demo.seed import DEMO_PASSWORD, seed_demo
from leitstand.devices.models import Device
from leitstand.ingest.message import DeviceMessage, MessageKind
from leitstand.licenses.models import License
from tests.portal.conftest import new_context
from tests.helpers.server import running_server

PARTNER = "partner@example.com"  # the demo's partner admin: sees every list
END_CUSTOMER = "endkunde@example.com"

# Every page whose main content is a list (a table.data), as the partner admin sees it.
LIST_PAGES = (
    "/", "/devices", "/alarms", "/alarms/rules", "/sites", "/maintenance", "/tickets", "/support-access",
    "/notifications", "/exports", "/manage/users", "/manage/customers", "/manage/licenses",
    "/manage/audit", "/manage/tokens", "/account",
)

# What on a page is wider than its box, and which words are split across two lines. Breaks
# after a hyphen, slash, dot or "@" are fine, and so are breaks in code and serial numbers.
_LAYOUT_FAULTS = """() => {
  const name = (el) => el.tagName.toLowerCase() + (el.className ? "." + String(el.className).trim().replace(/\\s+/g, ".") : "");
  const overflowing = [];
  // On a phone the column headings are kept for screen readers only, in a 1 px box.
  const shown = (el) => el.checkVisibility() && !(el.closest("thead")?.getBoundingClientRect().height <= 1);
  for (const el of document.querySelectorAll("main td, main th, main table.data tr, main .table-wrap")) {
    if (shown(el) && el.scrollWidth > el.clientWidth + 1) {
      overflowing.push(`${name(el)} ${el.scrollWidth}>${el.clientWidth}: ${el.textContent.trim().slice(0, 60)}`);
    }
  }
  const split = [];
  const main = document.querySelector("main");
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    // Code, routes and serials are tokens, not words: they may break where they must.
    if (!node.parentElement.checkVisibility() || node.parentElement.closest("code, kbd, pre, .mono")) continue;
    for (const word of node.data.matchAll(/[^\\s\\-/@.]+/g)) {
      const range = document.createRange();
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word[0].length);
      const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.bottom)));
      if (lines.size > 1) split.push(`${word[0]} (in ${name(node.parentElement)} ${node.parentElement.clientWidth}px)`);
    }
  }
  return {
    overflowing, split,
    pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth,
    cardRows: [...document.querySelectorAll("main table.data tbody tr")]
      .filter((tr) => tr.checkVisibility() && getComputedStyle(tr).display !== "table-row").length,
    rows: [...document.querySelectorAll("main table.data tbody tr")].filter((tr) => tr.checkVisibility()).length,
    // Labels drawn outside their card (a label sits in its cell's left padding).
    labelsOutside: [...document.querySelectorAll("main table.data td[data-label]")]
      .filter((td) => td.checkVisibility() && parseFloat(getComputedStyle(td).paddingLeft)
        + parseFloat(getComputedStyle(td, "::before").marginLeft) < 0)
      .map((td) => td.dataset.label),
    // Cells of a column with a heading that do not show it.
    unlabelled: [...document.querySelectorAll("main table.data tbody td")]
      .filter((td) => td.checkVisibility() && td.textContent.trim() && !td.dataset.label
        && td.closest("table").tHead?.rows[0]?.cells[td.cellIndex]?.textContent.trim())
      .map((td) => td.textContent.trim().slice(0, 40)),
  };
}"""


@pytest.fixture
def demo_url(app: Any, system_db: Any) -> Iterator[str]:
    """The portal over the demo fleet, with one open alarm."""
    seed_demo(system_db)
    # A licensed barrier: an unlicensed device's events are not processed.
    barrier = system_db.scalars(select(Device).join(License, License.device_id == Device.id)
                                .where(Device.type_key == "barrier", License.ends_on > date.today())
                                .order_by(Device.id)).first()
    now = datetime.now(UTC)
    report = app.state.ingestor.accept([DeviceMessage(serial=barrier.serial_number, kind=MessageKind.event,
                                                      received_at=now, sent_at=now, event_code="E01")])
    assert report.accepted == 1, report
    with running_server(app) as url:
        yield url


@pytest.fixture
def german_phone(browser: Any, demo_url: str) -> Iterator[Page]:
    context = new_context(browser, demo_url, phone=True, locale="de-DE", extra_http_headers={"Accept-Language": "de-DE,de;q=0.9"})
    yield context.new_page()
    context.close()


def demo_login(page: Page, email: str, login: Any, next_url: str = "/") -> None:
    login(page, email, password=DEMO_PASSWORD, next_url=next_url)


def open_a_ticket(page: Page) -> None:
    """Through the portal's own form, as the facility manager would, with a long German title."""
    page.goto("/devices?q=Einfahrt")
    page.locator(".device-table tbody tr a").first.click()
    page.locator("#support-button").click()
    page.locator("#ticket-title").fill("Schrankensteuerungsplatine nach Überspannungsschaden ausgefallen")
    page.locator("#ticket-description").fill("Seit dem Gewitter bleibt die Einfahrtsschranke geschlossen.")
    page.locator('#new-ticket-form button[type="submit"]').click()
    expect(page.locator("#sla-clock")).to_be_visible()


def test_every_list_shows_cards_that_fit_a_phone_without_splitting_words(german_phone: Page, login, shot) -> None:  # type: ignore[no-untyped-def]
    page = german_phone
    demo_login(page, PARTNER, login)
    open_a_ticket(page)

    faults: dict[str, Any] = {}
    for path in LIST_PAGES:
        response = page.goto(path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        page.wait_for_load_state("networkidle")  # lists loaded by htmx after the page
        found = page.evaluate(_LAYOUT_FAULTS)
        problems = {key: f"{len(found[key])}: {found[key][:5]}" for key in ("overflowing", "split", "unlabelled", "labelsOutside") if found[key]}
        if found["pageWidth"] > found["viewport"]:
            problems["page scrolls sideways"] = f"{found['pageWidth']}px > {found['viewport']}px"
        if found["cardRows"] != found["rows"]:
            problems["rows not shown as cards"] = f"{found['rows'] - found['cardRows']} of {found['rows']}"
        if problems:
            faults[path] = problems
        if path == "/devices":
            assert found["rows"] > 10, "the demo fleet's devices are listed"
            shot(page, "phone-devices", full_page=False)
        if path == "/alarms":
            assert found["rows"] >= 1, "the open alarm is listed"
            shot(page, "phone-alarms", full_page=False)
    assert not faults, "\n".join(f"{path}: {problems}" for path, problems in faults.items())


def test_a_device_page_fits_a_phone(german_phone: Page, login, shot) -> None:  # type: ignore[no-untyped-def]
    page = german_phone
    demo_login(page, PARTNER, login)
    page.goto("/devices?q=Hauptbahnhof Einfahrt 1")
    page.locator(".device-table tbody tr a").first.click()
    expect(page.locator("#device-status")).to_be_visible()
    found = page.evaluate(_LAYOUT_FAULTS)
    assert found["pageWidth"] <= found["viewport"]
    assert not found["split"], found["split"]
    shot(page, "phone-device", full_page=False)


def tab_bar_entries(page: Page) -> Any:
    return page.get_by_role("navigation", name="Hauptnavigation").locator(":scope > a, :scope > button")


def test_the_bottom_bar_holds_five_entries_and_mehr_opens_the_rest(german_phone: Page, login, shot) -> None:  # type: ignore[no-untyped-def]
    page = german_phone
    demo_login(page, PARTNER, login)
    entries = tab_bar_entries(page)
    expect(entries).to_have_text(["Übersicht", "Geräte", "Alarme", "Wartung", "Mehr"])
    rest = page.get_by_role("navigation", name="Hauptnavigation").get_by_role("link", name="Standorte")
    expect(rest).to_be_hidden()

    # "Mehr" is a button a keyboard opens, and it tells a screen reader whether it is open.
    more = page.get_by_role("button", name="Mehr")
    expect(more).to_have_attribute("aria-expanded", "false")
    more.focus()
    page.keyboard.press("Enter")
    expect(more).to_have_attribute("aria-expanded", "true")
    navigation = page.get_by_role("navigation", name="Hauptnavigation")
    for name in ("Standorte", "Support", "Gerät hinzufügen", "Verwaltung"):
        expect(navigation.get_by_role("link", name=name)).to_be_visible()
    shot(page, "phone-more", full_page=False)
    page.keyboard.press("Escape")
    expect(rest).to_be_hidden()
    expect(more).to_be_focused()

    more.click()
    rest.click()
    page.wait_for_url("**/sites")
    # A page reached through "Mehr" marks "Mehr" as where one is.
    expect(page.get_by_role("button", name="Mehr")).to_have_attribute("data-current", "true")


def test_a_short_navigation_shows_all_its_entries_without_mehr(german_phone: Page, login) -> None:  # type: ignore[no-untyped-def]
    page = german_phone
    demo_login(page, END_CUSTOMER, login)
    entries = tab_bar_entries(page)
    expect(entries.first).to_have_text("Übersicht")
    assert entries.count() <= 5
    expect(page.get_by_role("button", name="Mehr")).to_have_count(0)


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_the_ticket_form_puts_each_label_by_its_own_field(browser: Any, demo_url: str, login, shot, phone: bool) -> None:  # type: ignore[no-untyped-def]
    context = new_context(browser, demo_url, phone=phone, locale="de-DE")
    page = context.new_page()
    demo_login(page, PARTNER, login)
    page.goto("/devices")
    page.locator(".device-table tbody tr a").first.click()
    page.locator("#support-button").click()
    expect(page.locator("#ticket-reference")).to_be_visible()

    labels = page.locator("#new-ticket-form label[for]")
    assert labels.count() >= 4
    for index in range(labels.count()):
        label = labels.nth(index)
        field = page.locator("#" + label.get_attribute("for"))
        own, box = label.bounding_box(), field.bounding_box()
        assert own and box
        same_row = own["x"] + own["width"] <= box["x"] and box["y"] <= own["y"] + own["height"] / 2 <= box["y"] + box["height"]
        directly_above = (own["y"] + own["height"] <= box["y"] + 1 and box["y"] - (own["y"] + own["height"]) < 16
                          and box["x"] - 1 <= own["x"] < box["x"] + box["width"])
        assert same_row or directly_above, f"label {label.inner_text()!r} at {own} is not by its field at {box}"
    shot(page, "ticket-form-phone" if phone else "ticket-form")
    context.close()
