"""The notifications page renders personal settings for everyone and administration for admins."""

from __future__ import annotations

from leitstand.notifications.models import Delivery, SiteMute


def test_admin_sees_rules_webhooks_and_dead_letters(world) -> None:  # type: ignore[no-untyped-def]
    admin = world.as_user("alpha_admin")
    hook = admin.post("/api/v1/notifications/webhooks", json={
        "tenant_id": world.alpha.customer.id, "name": "ERP Hook", "url": "https://erp.example/hook"}).json()
    admin.post("/api/v1/notifications/rules", json={
        "tenant_id": world.alpha.customer.id, "name": "Nachtbereitschaft", "roles": ["operator"],
        "escalate_after_minutes": 15, "escalation_roles": ["partner_admin"]})
    world.db.add(Delivery(tenant_id=world.alpha.customer.id, webhook_id=hook["id"], channel="webhook",
                          target=hook["url"], outcome="dead_lettered", dead_lettered=True, attempts=10,
                          detail="500 Internal Server Error; gave up after 10 attempts", payload={}))
    world.db.commit()

    page = admin.get("/notifications")

    assert page.status_code == 200
    text = page.text
    assert "Weiterleitungsregeln" in text and "Nachtbereitschaft" in text and "nach 15 min" in text
    assert "ERP Hook" in text and f"/api/v1/notifications/webhooks/{hook['id']}/test" in text
    assert "gave up after 10 attempts" in text and "Jetzt erneut senden" in text


def test_everyone_sees_their_push_and_mutes_but_no_administration(world) -> None:  # type: ignore[no-untyped-def]
    world.db.add(SiteMute(user_id=world.users["alpha_site_tech"].id, site_id=world.alpha.site.id))
    world.db.commit()

    page = world.as_user("alpha_site_tech").get("/notifications")

    assert page.status_code == 200
    assert "Push-Benachrichtigungen auf diesem Gerät" in page.text
    assert world.alpha.site.name in page.text and "Stummschaltung aufheben" in page.text
    assert "Weiterleitungsregeln" not in page.text and "/api/v1/notifications/rules" not in page.text


def test_management_overview_links_the_page(world) -> None:  # type: ignore[no-untyped-def]
    page = world.as_user("alpha_reader").get("/manage")

    assert 'href="/notifications"' in page.text
