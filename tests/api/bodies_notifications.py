"""Route-walk entries of the notification API: bodies aimed at the victim organisation's records.

`SEED` (from `PATH_IDS`) gives the walk values for this domain's path parameters (rule_id,
webhook_id, delivery_id): records of the victim's own, made on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import object_session

from leitstand.notifications.models import Delivery, PushSubscription, RoutingRule, Webhook
from tests.helpers.world import Organisation, World

BODIES: dict[tuple[str, str], Callable[[Organisation, World], dict[str, Any]]] = {
    ("POST", "/api/v1/notifications/rules"): lambda org, w: {
        "tenant_id": org.customer.id, "name": "Intruder", "roles": ["operator"], "site_ids": [org.site.id],
    },
    ("PATCH", "/api/v1/notifications/rules/{rule_id}"): lambda org, w: {"name": "Intruder", "user_ids": []},
    ("POST", "/api/v1/notifications/webhooks"): lambda org, w: {
        "tenant_id": org.customer.id, "name": "Intruder", "url": "https://intruder.example/hook",
    },
    ("PATCH", "/api/v1/notifications/webhooks/{webhook_id}"): lambda org, w: {
        "url": "https://intruder.example/hook", "rotate_secret": True,
    },
    # The caller's own settings. The one record such a body can name is a browser's push endpoint:
    # aimed at the victim operator's registered browser, which must stay theirs.
    ("POST", "/api/v1/me/push-subscriptions"): lambda org, w: {
        "endpoint": _push_subscription(org).endpoint, "keys": {"p256dh": "BPub", "auth": "YXV0aA"},
    },
}


def _push_subscription(org: Organisation) -> PushSubscription:
    db = object_session(org.customer)
    assert db is not None
    subscription = db.scalar(select(PushSubscription).where(PushSubscription.user_id == org.operator.id))
    if subscription is None:
        subscription = PushSubscription(user_id=org.operator.id, endpoint=f"https://push.example/{org.mark}",
                                        p256dh="BVictim", auth="dmljdGlt")
        db.add(subscription)
        db.commit()
    return subscription


def _webhook(org: Organisation) -> Webhook:
    db = object_session(org.customer)
    assert db is not None
    hook = db.scalar(select(Webhook).where(Webhook.tenant_id == org.customer.id))
    if hook is None:
        hook = Webhook(tenant_id=org.customer.id, name=f"ERP {org.mark}", url="https://erp.example/hook",
                       secret_encrypted=b"sealed")
        db.add(hook)
        db.commit()
    return hook


def _rule(org: Organisation) -> RoutingRule:
    db = object_session(org.customer)
    assert db is not None
    rule = db.scalar(select(RoutingRule).where(RoutingRule.tenant_id == org.customer.id))
    if rule is None:
        rule = RoutingRule(tenant_id=org.customer.id, name=f"Leitwarte {org.mark}", severities=[], site_ids=[],
                           device_type_keys=[], user_ids=[], roles=["operator"], channels=["email"], webhook_ids=[],
                           escalation_user_ids=[], escalation_roles=[])
        db.add(rule)
        db.commit()
    return rule


def _delivery(org: Organisation) -> Delivery:
    db = object_session(org.customer)
    assert db is not None
    delivery = db.scalar(select(Delivery).where(Delivery.tenant_id == org.customer.id))
    if delivery is None:
        hook = _webhook(org)
        delivery = Delivery(tenant_id=org.customer.id, webhook_id=hook.id, channel="webhook", target=hook.url,
                            outcome="dead_lettered", dead_lettered=True, attempts=10, detail=f"gave up {org.mark}",
                            payload={"title": org.mark, "body": "", "severity": "major"})
        db.add(delivery)
        db.commit()
    return delivery


PATH_IDS: dict[str, Callable[[Organisation], Any]] = {
    "rule_id": lambda org: _rule(org).id,
    "webhook_id": lambda org: _webhook(org).id,
    "delivery_id": lambda org: _delivery(org).id,
    # Not a path parameter: the victim's browser that the push-subscription body aims at.
    "push_endpoint": lambda org: _push_subscription(org).endpoint,
}


def SEED(org: Organisation, world: World) -> dict[str, Any]:  # noqa: N802 - the walk's hook name
    return {name: make(org) for name, make in PATH_IDS.items()}
