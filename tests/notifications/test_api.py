"""The notification API: webhook retries and dead letters, test sends, tenant scoping, self-service."""

from __future__ import annotations

from datetime import timedelta

from leitstand.clock import clock
from leitstand.notifications.channels import SIGNATURE_HEADER, RetryPolicy, verify_signature
from leitstand.notifications.dispatch import start_notifier
from leitstand.scheduler.loop import Scheduler
from tests.notifications.helpers import raise_and_notify

SECRET = "whsec-test-receiver-secret-0002"
QUICK = RetryPolicy(attempts=3, base_delay=timedelta(seconds=30), factor=2, max_delay=timedelta(minutes=5))


def _webhook_rule(world, url: str) -> int:  # type: ignore[no-untyped-def]
    admin = world.as_user("alpha_admin")
    hook = admin.post("/api/v1/notifications/webhooks", json={
        "tenant_id": world.alpha.customer.id, "name": "Facility management", "url": url, "secret": SECRET}).json()
    response = admin.post("/api/v1/notifications/rules", json={
        "tenant_id": world.alpha.customer.id, "name": "to the ERP", "channels": ["webhook"], "webhook_ids": [hook["id"]]})
    assert response.status_code == 201, response.text
    return hook["id"]


def test_failed_webhook_is_retried_then_dead_lettered_then_retried_now(app, world, webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    app.state.notifier = start_notifier(app.state.settings, app.state.session_factory, policy=QUICK)
    clock.freeze()
    _webhook_rule(world, webhook_receiver.url)
    webhook_receiver.answer_with(500, 502, 503)
    admin = world.as_user("alpha_admin")
    scheduler = Scheduler(app.state.session_factory, lambda *_: None)

    raise_and_notify(app, world.alpha.barrier)
    [delivery] = admin.get("/api/v1/notifications/deliveries").json()["items"]
    assert (delivery["outcome"], delivery["attempts"], delivery["status_code"]) == ("failed", 1, 500)
    assert delivery["next_attempt_at"] is not None

    assert scheduler.run_due()["webhook retries"] == 0  # not due yet
    clock.advance(timedelta(seconds=30))
    scheduler._next_run = {name: clock.now() for name in scheduler._next_run}
    assert scheduler.run_due()["webhook retries"] == 1
    clock.advance(timedelta(seconds=60))
    scheduler._next_run = {name: clock.now() for name in scheduler._next_run}
    assert scheduler.run_due()["webhook retries"] == 1

    [dead] = admin.get("/api/v1/notifications/dead-letters").json()["items"]
    assert (dead["id"], dead["outcome"], dead["attempts"], dead["dead_lettered"]) == (
        delivery["id"], "dead_lettered", 3, True)
    assert "gave up after 3 attempts" in dead["detail"]

    # The receiver works again; "retry now" from the dead-letter list delivers.
    response = admin.post(f"/api/v1/notifications/deliveries/{dead['id']}/retry")
    assert response.status_code == 200, response.text
    assert (response.json()["outcome"], response.json()["dead_lettered"], response.json()["attempts"]) == (
        "delivered", False, 4)
    assert admin.get("/api/v1/notifications/dead-letters").json()["items"] == []
    requests = webhook_receiver.requests
    assert len(requests) == 4 and len({r.body for r in requests}) == 1  # the same body every time
    assert len({r.headers["Leitstand-Delivery"] for r in requests}) == 1
    for request in requests:
        assert verify_signature(SECRET, request.headers[SIGNATURE_HEADER], request.body, tolerance=10**9)


def test_send_test_reports_the_receivers_answer(app, world, webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    hook = _webhook_rule(world, webhook_receiver.url)
    admin = world.as_user("alpha_admin")
    webhook_receiver.answer_with(503)

    failed = admin.post(f"/api/v1/notifications/webhooks/{hook}/test").json()
    worked = admin.post(f"/api/v1/notifications/webhooks/{hook}/test").json()

    assert (failed["outcome"], failed["status_code"], failed["dead_lettered"], failed["next_attempt_at"]) == (
        "failed", 503, False, None)
    assert (worked["outcome"], worked["status_code"], worked["reason"]) == ("delivered", 200, "test")
    assert verify_signature(SECRET, webhook_receiver.requests[-1].headers[SIGNATURE_HEADER],
                            webhook_receiver.requests[-1].body)


def test_rules_webhooks_and_deliveries_are_tenant_scoped(app, world, webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    hook = _webhook_rule(world, webhook_receiver.url)
    raise_and_notify(app, world.alpha.barrier)
    alpha, beta = world.as_user("alpha_admin"), world.as_user("beta_admin")
    [rule] = alpha.get("/api/v1/notifications/rules").json()["items"]
    [delivery] = alpha.get("/api/v1/notifications/deliveries").json()["items"]

    for listing in ("rules", "webhooks", "deliveries"):
        assert beta.get(f"/api/v1/notifications/{listing}").json()["items"] == []
    assert beta.get(f"/api/v1/notifications/rules/{rule['id']}").status_code == 404
    assert beta.patch(f"/api/v1/notifications/rules/{rule['id']}", json={"enabled": False}).status_code == 404
    assert beta.delete(f"/api/v1/notifications/webhooks/{hook}").status_code == 404
    assert beta.post(f"/api/v1/notifications/webhooks/{hook}/test").status_code == 404
    assert beta.post(f"/api/v1/notifications/deliveries/{delivery['id']}/retry").status_code == 404
    # Beta cannot make a rule for Alpha, nor point its own rule at Alpha's webhook, sites or users.
    assert beta.post("/api/v1/notifications/rules", json={
        "tenant_id": world.alpha.customer.id, "name": "x", "roles": ["operator"]}).status_code == 404
    for reference in ({"webhook_ids": [hook], "channels": ["webhook"]}, {"site_ids": [world.alpha.site.id]},
                      {"user_ids": [world.alpha.operator.id]}):
        response = beta.post("/api/v1/notifications/rules", json={
            "tenant_id": world.beta.customer.id, "name": "x", "roles": ["operator"], **reference})
        assert response.status_code == 404, (reference, response.text)
    # Secrets never leave again after creation.
    assert "secret" not in alpha.get(f"/api/v1/notifications/webhooks/{hook}").json()
    # An operator technician lacks notification.write.
    assert world.as_user("alpha_site_tech").get("/api/v1/notifications/rules").status_code == 403


def test_rule_validation(world) -> None:  # type: ignore[no-untyped-def]
    admin = world.as_user("alpha_admin")
    tenant = world.alpha.customer.id
    assert admin.post("/api/v1/notifications/rules", json={"tenant_id": tenant, "name": "nobody"}).status_code == 422
    assert admin.post("/api/v1/notifications/rules", json={
        "tenant_id": tenant, "name": "x", "roles": ["overlord"]}).status_code == 422
    assert admin.post("/api/v1/notifications/rules", json={
        "tenant_id": tenant, "name": "x", "roles": ["operator"], "escalate_after_minutes": 10}).status_code == 422
    created = admin.post("/api/v1/notifications/rules", json={
        "tenant_id": tenant, "name": "x", "roles": ["operator"], "severities": ["critical", "major"]})
    assert created.status_code == 201
    updated = admin.patch(f"/api/v1/notifications/rules/{created.json()['id']}", json={
        "escalate_after_minutes": 10, "escalation_roles": ["partner_admin"]})
    assert updated.status_code == 200 and updated.json()["escalate_after_minutes"] == 10
    assert admin.delete(f"/api/v1/notifications/rules/{created.json()['id']}").status_code == 204


def test_self_service_push_subscriptions_and_mutes(world) -> None:  # type: ignore[no-untyped-def]
    operator, reader = world.as_user("alpha_operator"), world.as_user("alpha_reader")
    browser = {"endpoint": "https://push.example/send/abc", "keys": {"p256dh": "BPub", "auth": "c2VjcmV0"},
               "expirationTime": None}

    assert operator.post("/api/v1/me/push-subscriptions", json=browser).status_code == 201
    assert [s["endpoint"] for s in operator.get("/api/v1/me/push-subscriptions").json()] == [browser["endpoint"]]
    # Someone else cannot take the endpoint over (the browser subscribes afresh instead), nor remove it.
    assert reader.post("/api/v1/me/push-subscriptions", json=browser).status_code == 409
    assert reader.delete("/api/v1/me/push-subscriptions", params={"endpoint": browser["endpoint"]}).status_code == 404
    assert len(operator.get("/api/v1/me/push-subscriptions").json()) == 1
    assert operator.delete("/api/v1/me/push-subscriptions", params={"endpoint": browser["endpoint"]}).status_code == 204
    assert operator.get("/api/v1/me/push-subscriptions").json() == []

    site = world.alpha.site
    assert operator.request("PUT", f"/api/v1/me/site-mutes/{site.id}").status_code == 200
    assert operator.request("PUT", f"/api/v1/me/site-mutes/{site.id}").status_code == 200  # idempotent
    assert [m["site_id"] for m in operator.get("/api/v1/me/site-mutes").json()] == [site.id]
    assert reader.get("/api/v1/me/site-mutes").json() == []  # personal
    assert world.as_user("beta_operator").request("PUT", f"/api/v1/me/site-mutes/{site.id}").status_code == 404
    assert operator.delete(f"/api/v1/me/site-mutes/{site.id}").status_code == 204
    assert operator.delete(f"/api/v1/me/site-mutes/{site.id}").status_code == 404


def test_vapid_public_key_is_stable_and_the_private_half_is_sealed(world) -> None:  # type: ignore[no-untyped-def]
    from leitstand.notifications.models import NotificationKey

    first = world.as_user("alpha_reader").get("/api/v1/notifications/vapid-public-key").json()["public_key"]
    second = world.as_user("beta_operator").get("/api/v1/notifications/vapid-public-key").json()["public_key"]

    assert first == second and len(first) == 87
    world.db.expire_all()
    [row] = world.db.query(NotificationKey).all()
    assert b"PRIVATE KEY" not in row.private_sealed
