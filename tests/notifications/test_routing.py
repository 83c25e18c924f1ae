"""Alarm → routing rules → recipients → every channel, end to end through the app's notifier."""

from __future__ import annotations

from email import message_from_bytes, policy

from sqlalchemy import select

from leitstand.notifications.channels import SIGNATURE_HEADER, verify_signature
from leitstand.notifications.models import Delivery, PushSubscription, RoutingRule, SiteMute
from tests.notifications.helpers import raise_and_notify

SECRET = "whsec-test-receiver-secret-0001"


def _vapid_key(world) -> str:  # type: ignore[no-untyped-def]
    response = world.as_user("alpha_operator").get("/api/v1/notifications/vapid-public-key")
    assert response.status_code == 200, response.text
    return response.json()["public_key"]


def _register_browser(world, subscribe, user_key: str):  # type: ignore[no-untyped-def]
    subscription = subscribe(_vapid_key(world))
    response = world.as_user(user_key).post("/api/v1/me/push-subscriptions", json={
        "endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}})
    assert response.status_code == 201, response.text
    return subscription


def _rule(world, **fields):  # type: ignore[no-untyped-def]
    body = {"tenant_id": world.alpha.customer.id, "name": "Leitwarte", **fields}
    response = world.as_user("alpha_admin").post("/api/v1/notifications/rules", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _webhook(world, url: str) -> int:  # type: ignore[no-untyped-def]
    response = world.as_user("alpha_admin").post("/api/v1/notifications/webhooks", json={
        "tenant_id": world.alpha.customer.id, "name": "ERP", "url": url, "secret": SECRET})
    assert response.status_code == 201, response.text
    assert response.json()["secret"] == SECRET
    return response.json()["id"]


def _deliveries(world) -> list[Delivery]:  # type: ignore[no-untyped-def]
    world.db.expire_all()
    return list(world.db.scalars(select(Delivery).order_by(Delivery.id)))


def test_each_channel_end_to_end(app, world, smtp, push_service, subscribe, webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    browser = _register_browser(world, subscribe, "alpha_operator")
    hook = _webhook(world, webhook_receiver.url)
    _rule(world, user_ids=[world.alpha.operator.id], channels=["push", "email", "webhook"], webhook_ids=[hook])

    alarm_id = raise_and_notify(app, world.alpha.barrier)

    # Push: decrypted by the push-service stub, worded in the operator's language (German).
    [push] = push_service.received
    assert push.endpoint == browser.endpoint
    content = push.json()
    assert content["title"] == f"{world.alpha.barrier.name}: Motor blockiert (E12)"
    assert "1. Lichtschranke prüfen" in content["body"]
    assert content["url"].endswith(f"/alarms/{alarm_id}") and content["tag"] == f"alarm-{alarm_id}"
    assert content["data"]["alarm_id"] == alarm_id and content["severity"] == "critical"
    # E-mail: received by the SMTP server, in German.
    [mail] = smtp.to(world.alpha.operator.email)
    mail = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert mail["Subject"] == f"[Kritisch] {world.alpha.barrier.name}: Motor blockiert (E12)"
    # Webhook: the receiver verifies the signature with the shared secret.
    [request] = webhook_receiver.requests
    assert verify_signature(SECRET, request.headers[SIGNATURE_HEADER], request.body)
    assert b'"alarm_id":%d' % alarm_id in request.body
    # Every delivery is recorded with its outcome and latency.
    deliveries = _deliveries(world)
    assert sorted(d.channel for d in deliveries) == ["email", "push", "webhook"]
    assert all(d.outcome == "delivered" and d.alarm_id == alarm_id for d in deliveries)
    assert all(d.latency_ms is not None and d.latency_ms >= 0 and d.attempt_ms > 0 for d in deliveries)
    assert all(d.tenant_id == world.alpha.customer.id for d in deliveries)


def test_latency_runs_from_the_device_message(app, world, smtp) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from leitstand.clock import clock

    _rule(world, user_ids=[world.alpha.operator.id], channels=["email"])
    received = clock.now() - timedelta(milliseconds=1500)

    raise_and_notify(app, world.alpha.barrier, received_at=received)

    [delivery] = _deliveries(world)
    assert delivery.latency_ms >= 1500
    assert delivery.event_at == received


def test_severity_site_and_type_filters(app, world, smtp) -> None:  # type: ignore[no-untyped-def]
    alpha = world.alpha
    _rule(world, name="critical only", user_ids=[alpha.operator.id], channels=["email"], severities=["critical"])
    _rule(world, name="thermostats at the building", user_ids=[world.users["alpha_reader"].id], channels=["email"],
          device_type_keys=["thermostat"], site_ids=[alpha.building.id])

    raise_and_notify(app, alpha.barrier, severity="minor", code="E01")  # neither: minor, and a barrier
    assert smtp.messages == []
    raise_and_notify(app, alpha.barrier, severity="critical", code="E02")  # the first rule
    assert [m["To"] for m in smtp.messages] == [alpha.operator.email]
    smtp.messages.clear()
    raise_and_notify(app, alpha.thermostat, severity="warning", code="T01")  # thermostat in the building's room
    assert [m["To"] for m in smtp.messages] == [world.users["alpha_reader"].email]


def test_rule_for_another_site_does_not_match(app, world, smtp) -> None:  # type: ignore[no-untyped-def]
    _rule(world, user_ids=[world.alpha.operator.id], channels=["email"], site_ids=[world.alpha.site.id])
    world.alpha.barrier.site_id = None
    world.db.commit()

    raise_and_notify(app, world.alpha.barrier)

    assert smtp.messages == []


def test_roles_reach_their_holders_and_mutes_are_respected(app, world, smtp) -> None:  # type: ignore[no-untyped-def]
    alpha = world.alpha
    _rule(world, roles=["operator", "read_only"], channels=["email"])
    world.db.add(SiteMute(user_id=world.users["alpha_reader"].id, site_id=alpha.site.id))  # the room is below it
    world.db.commit()

    raise_and_notify(app, alpha.barrier)

    assert [m["To"] for m in smtp.messages] == [alpha.operator.email]


def test_recipients_who_cannot_see_the_device_are_skipped(app, world, smtp) -> None:  # type: ignore[no-untyped-def]
    alpha = world.alpha
    # Alpha's end customer sees only the shared barrier; Beta's operator sees nothing of Alpha.
    world.db.add(RoutingRule(tenant_id=alpha.customer.id, name="wide", severities=[], site_ids=[],
                             device_type_keys=[], user_ids=[world.users["alpha_end"].id, world.beta.operator.id],
                             roles=[], channels=["email"], webhook_ids=[], escalation_user_ids=[], escalation_roles=[]))
    world.db.commit()

    raise_and_notify(app, alpha.thermostat, code="T02")
    assert smtp.messages == []
    raise_and_notify(app, alpha.barrier, code="E03")
    assert [m["To"] for m in smtp.messages] == [world.users["alpha_end"].email]


def test_a_catalogue_alarm_is_told_to_the_platform_not_to_who_sees_its_device(app, world, smtp) -> None:  # type: ignore[no-untyped-def]
    from leitstand.clock import clock
    from leitstand.ingest.message import DeviceMessage, MessageKind

    alpha = world.alpha
    wide = {"severities": [], "site_ids": [], "device_type_keys": [], "roles": [], "channels": ["email"],
            "webhook_ids": [], "escalation_user_ids": [], "escalation_roles": []}
    world.db.add(RoutingRule(tenant_id=world.root.id, name="platform", user_ids=[world.users["platform_admin"].id], **wide))
    # The end customer the barrier is shared with, and its owner: they see the device, not this alarm.
    world.db.add(RoutingRule(tenant_id=alpha.end_customer.id, name="shared", user_ids=[world.users["alpha_end"].id], **wide))
    world.db.add(RoutingRule(tenant_id=alpha.customer.id, name="owner", user_ids=[alpha.operator.id], **wide))
    world.db.commit()

    now = clock.now()
    app.state.ingestor.accept([DeviceMessage(serial=alpha.barrier.serial_number, kind=MessageKind.event,
                                             received_at=now, sent_at=now, event_code="E99")])
    assert app.state.notifier.wait_idle(20)

    assert [m["To"] for m in smtp.messages] == [world.users["platform_admin"].email]
    assert "E99" in smtp.messages[0]["Subject"]


def test_gone_push_subscription_is_deleted(app, world, push_service, subscribe) -> None:  # type: ignore[no-untyped-def]
    browser = _register_browser(world, subscribe, "alpha_operator")
    push_service.expire(browser.endpoint)
    _rule(world, user_ids=[world.alpha.operator.id], channels=["push"])

    raise_and_notify(app, world.alpha.barrier)

    [delivery] = _deliveries(world)
    assert (delivery.outcome, delivery.status_code) == ("gone", 410)
    assert world.db.scalars(select(PushSubscription)).all() == []


def test_only_raised_alarms_are_sent_once_per_target(app, world, smtp) -> None:  # type: ignore[no-untyped-def]
    _rule(world, name="one", user_ids=[world.alpha.operator.id], channels=["email"])
    _rule(world, name="two", roles=["operator"], channels=["email"])

    raise_and_notify(app, world.alpha.barrier)
    raise_and_notify(app, world.alpha.barrier)  # the same condition again: an update, no new message

    assert [m["To"] for m in smtp.messages] == [world.alpha.operator.email]
