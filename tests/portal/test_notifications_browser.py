"""Notification rules in a real browser: the rule form sends what the API documents."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.helpers.world import World


def test_a_rule_to_a_webhook_is_created_from_the_form(page: Page, world: World, login) -> None:  # type: ignore[no-untyped-def]
    # A multiple select gives text; the API takes webhook ids as JSON numbers only.
    hook = world.as_user("alpha_admin").post("/api/v1/notifications/webhooks", json={
        "tenant_id": world.alpha.customer.id, "name": "Facility management", "url": "https://fm.example/hook",
    }).json()
    login(page, "admin@alpha.test", next_url="/notifications")
    page.locator("#routing-rules details summary").click()
    form = page.locator('form[data-api="POST /api/v1/notifications/rules"]')
    form.locator("#rule-name").fill("Alarms to facility management")
    form.locator("#rule-tenant").select_option(str(world.alpha.customer.id))
    form.locator('input[name="channels"][value="webhook"]').check()
    form.locator("#rule-webhooks").select_option(str(hook["id"]))
    form.locator('button[type="submit"]').click()

    expect(page.locator("#routing-rules")).to_contain_text("Alarms to facility management")
    rules = world.as_user("alpha_admin").get("/api/v1/notifications/rules").json()["items"]
    assert [rule["webhook_ids"] for rule in rules if rule["name"] == "Alarms to facility management"] == [[hook["id"]]]
