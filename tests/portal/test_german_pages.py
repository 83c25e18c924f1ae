"""A German user sees German pages only: a walk through the portal finds no English message id
whose German text differs, and enum values (severities, channels) and error pages are German too.

The browser asks for English (en-GB, as every test context does): the user's own setting must win.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from leitstand import i18n
from leitstand.portal.pages import NAVIGATION

# Every text node and every text a person reads from an attribute, hidden ones included: a dialog
# that opens later is part of the page too.
_VISIBLE_TEXTS = """() => {
  const texts = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement && !node.parentElement.closest("script, style")) texts.push(node.textContent);
  }
  for (const element of document.querySelectorAll("[placeholder], [title], [aria-label], [data-confirm]")) {
    for (const name of ["placeholder", "title", "aria-label", "data-confirm"]) {
      if (element.hasAttribute(name)) texts.push(element.getAttribute(name));
    }
  }
  return texts.map((text) => text.replace(/\\s+/g, " ").trim()).filter(Boolean);
}"""


def _english_leaks(texts: list[str]) -> list[str]:
    """The texts that are an English message id with a different German text."""
    german = i18n.translations("de")
    return sorted({text for text in texts if german.gettext(text) != text})


@pytest.mark.every_backend  # opens every page: a query failing on PostgreSQL shows here
def test_a_walk_through_the_german_portal_finds_no_english_text(page, world, login):
    login(page, "admin@alpha.test")
    barrier, site = world.alpha.barrier, world.alpha.site
    pages = [item.href for item in NAVIGATION] + [
        "/account", "/notifications", "/alarms/rules", f"/devices/{barrier.id}", f"/sites/{site.id}",
        f"/maintenance/devices/{barrier.id}", "/devices/999999", "/no/such/page",
    ]
    leaks: dict[str, list[str]] = {}
    for path in pages:
        page.goto(path)
        expect(page.locator("html"), f"{path} is not German").to_have_attribute("lang", "de")
        if found := _english_leaks(page.evaluate(_VISIBLE_TEXTS)):
            leaks[path] = found
    assert not leaks, "English texts on German pages:\n" + "\n".join(f"  {path}: {texts}" for path, texts in leaks.items())


def test_a_german_users_404_page_is_german_even_for_an_unknown_address(page, login):
    login(page, "reader@alpha.test")

    for path in ("/no/such/page", "/devices/999999"):
        response = page.goto(path)
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("404 · Nicht gefunden")
        expect(page.get_by_role("link", name="Zurück zur Übersicht")).to_be_visible()


def test_a_german_users_403_page_is_german(page, login):
    login(page, "reader@alpha.test")  # read-only: no device.write, which adding a device needs

    response = page.goto("/onboarding")

    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("403 · Kein Zugriff")
    expect(page.locator(".error-page")).to_contain_text("Ihnen fehlt die Berechtigung device.write.")


def test_severities_and_channels_are_german_on_the_notification_page(page, login):
    login(page, "admin@alpha.test")

    page.goto("/notifications")
    page.get_by_text("Neue Regel").click()

    rule_form = page.locator("form[data-api='POST /api/v1/notifications/rules']")
    for label in ("kritisch", "schwer", "leicht", "Warnung", "Push", "E-Mail", "Webhook"):
        expect(rule_form.get_by_label(label, exact=True)).to_be_attached()
    expect(rule_form.get_by_label("critical", exact=True)).to_have_count(0)
    expect(rule_form.get_by_label("email", exact=True)).to_have_count(0)


def test_severities_are_german_on_the_alarm_pages(page, login):
    login(page, "reader@alpha.test")

    page.goto("/alarms")

    severity_filter = page.locator("select[name=severity]")
    expect(severity_filter.locator("option")).to_contain_text([re.compile("kritisch"), re.compile("schwer"),
                                                              re.compile("leicht"), re.compile("Warnung")])


def test_device_types_are_named_in_german_on_the_alarm_rules_page(page, login):
    login(page, "reader@alpha.test")

    page.goto("/alarms/rules")

    defaults = page.locator("#default-rules")
    expect(defaults.get_by_role("cell", name="Schrankenantrieb", exact=True).first).to_be_visible()
    expect(defaults.get_by_role("cell", name="barrier", exact=True)).to_have_count(0)
