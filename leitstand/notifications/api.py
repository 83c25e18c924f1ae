"""JSON API of notifications.

Tenant administration (notification.write): routing rules, webhooks with a test send,
the delivery log and the dead-letter list with "retry now". Personal settings
(self-service, under /me): this browser's push subscription and muted sites.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.access.rules import within_tenant
from leitstand.accounts.models import User
from leitstand.db.stored_rows import presentable
from leitstand.notifications.channels import Channel
from leitstand.notifications.dispatch import current_notifier
from leitstand.notifications.models import Delivery, DeliveryOutcome, PushSubscription, RoutingRule, SiteMute, Webhook
from leitstand.notifications.schemas import (
    HTTP_URL,
    DeliveryPublic,
    PushSubscriptionCreate,
    PushSubscriptionPublic,
    RuleCreate,
    RulePublic,
    RuleUpdate,
    SiteMutePublic,
    VapidPublicKey,
    WebhookCreate,
    WebhookPublic,
    WebhookUpdate,
    WebhookWithSecret,
)
from leitstand.notifications.service import Sender, ensure_vapid_keys, retry_delivery, send_test
from leitstand.permissions import Permission
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session
from leitstand.web.crud import EqualsFilter, Resource, get_visible, read_page, resource_routes
from leitstand.web.deps import Access, AccountArea, account, requires
from leitstand.web.errors import conflict, invalid, not_found
from leitstand.web.types import FilterId, Limit, ObjectId, Offset, Page, PageRequest

router = APIRouter(tags=["notifications"])
Admin = Annotated[Access, requires(Permission.notification_write)]
AlarmReader = Annotated[Access, requires(Permission.alarm_read)]
# The user's own notification settings: an API token reaches them only with the account scope.
OwnSettings = Annotated[Access, account(AccountArea.notifications)]


def _sender(request: Request, access: Access) -> Sender:
    notifier = current_notifier()
    if notifier is not None:
        return notifier.sender
    return Sender(access.settings, request.app.state.secret_box)


@router.get("/notifications/vapid-public-key", response_model=VapidPublicKey)
def get_vapid_public_key(request: Request, access: AlarmReader) -> VapidPublicKey:
    """The application server key browsers subscribe to Web Push with."""
    keys = ensure_vapid_keys(access.db, request.app.state.secret_box)
    return VapidPublicKey(public_key=keys.application_server_key)


# --- routing rules ----------------------------------------------------------------------------


def _check_rule(db: Session, rule: RoutingRule) -> None:
    """Everything a rule names must lie in the rule's organisation (sites, webhooks) or be visible (users)."""
    tenant = get_visible(db, Tenant, rule.tenant_id, "tenant")
    for site_id in rule.site_ids:
        site = get_visible(db, Site, site_id, "site")
        owner = db.get(Tenant, site.tenant_id)
        if owner is None or not within_tenant(owner.path, tenant.path):
            raise invalid("A rule's sites must belong to its organisation.")
    for user_id in {*rule.user_ids, *rule.escalation_user_ids}:
        get_visible(db, User, user_id, "user")
    for webhook_id in rule.webhook_ids:
        if get_visible(db, Webhook, webhook_id, "webhook").tenant_id != rule.tenant_id:
            raise invalid("A rule's webhooks must belong to its organisation.")
    if Channel.webhook in rule.channels and not rule.webhook_ids:
        raise invalid("The webhook channel needs at least one webhook in webhook_ids.")
    if not (rule.user_ids or rule.roles or (Channel.webhook in rule.channels and rule.webhook_ids)):
        raise invalid("A rule needs recipients: users, roles or webhooks.")
    if rule.escalate_after_minutes and not (rule.escalation_user_ids or rule.escalation_roles):
        raise invalid("Escalation needs an escalation group: escalation_user_ids or escalation_roles.")


def _listify(values: dict) -> dict:  # type: ignore[type-arg]
    # Enum members to their plain values, so the JSON columns hold strings.
    return {key: [str(item) if not isinstance(item, int) else item for item in value] if isinstance(value, list)
            else value for key, value in values.items()}


def _change_rule(db: Session, rule: RoutingRule, changes: RuleUpdate) -> None:
    for field, value in _listify(changes.model_dump(exclude_unset=True)).items():
        setattr(rule, field, value)
    _check_rule(db, rule)


ROUTING_RULES = Resource(
    model=RoutingRule, what="routing rule", key="rule_id", public=RulePublic, patch=RuleUpdate,
    reader=Admin, writer=Admin, order_by=(RoutingRule.name, RoutingRule.id),
    filters=(EqualsFilter("tenant_id", FilterId, RoutingRule.tenant_id),), change=_change_rule,
)
resource_routes(router, ROUTING_RULES, collection="/notifications/rules", item="/notifications/rules/{rule_id}",
                names={"list": "list_rules", "get": "get_rule", "patch": "update_rule", "delete": "delete_rule"})


@router.post("/notifications/rules", response_model=RulePublic, status_code=201)
def create_rule(body: RuleCreate, access: Admin) -> RoutingRule:
    values = _listify(body.model_dump(exclude_none=True))
    rule = RoutingRule(**{"site_ids": [], "device_type_keys": [], "user_ids": [], "roles": [], "webhook_ids": [],
                          "escalation_user_ids": [], "escalation_roles": [], **values})
    _check_rule(access.db, rule)
    access.db.add(rule)
    access.db.commit()
    return rule


# --- webhooks -------------------------------------------------------------------------------


def _with_secret(webhook: Webhook, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret(**WebhookPublic.model_validate(webhook).model_dump(), secret=secret)


def _unused_webhook(db: Session, webhook: Webhook) -> None:
    rules = db.scalars(select(RoutingRule).where(RoutingRule.tenant_id == webhook.tenant_id))
    if any(webhook.id in rule.webhook_ids for rule in rules):
        raise conflict("Routing rules still send to this webhook; remove it from them first.")


# Its patch is hand-written below: rotating the secret answers with the new one, once.
WEBHOOKS = Resource(
    model=Webhook, what="webhook", key="webhook_id", public=WebhookPublic, reader=Admin, writer=Admin,
    order_by=(Webhook.name, Webhook.id), filters=(EqualsFilter("tenant_id", FilterId, Webhook.tenant_id),),
    before_delete=_unused_webhook,
)
resource_routes(router, WEBHOOKS, collection="/notifications/webhooks", item="/notifications/webhooks/{webhook_id}",
                names={"list": "list_webhooks", "get": "get_webhook"})


@router.post("/notifications/webhooks", response_model=WebhookWithSecret, status_code=201)
def create_webhook(body: WebhookCreate, request: Request, access: Admin) -> WebhookWithSecret:
    tenant = get_visible(access.db, Tenant, body.tenant_id, "tenant")
    secret = body.secret or "whsec_" + secrets.token_urlsafe(32)
    webhook = Webhook(tenant_id=tenant.id, name=body.name, url=body.url, enabled=body.enabled,
                      secret_encrypted=request.app.state.secret_box.seal(secret.encode("utf-8")))
    access.db.add(webhook)
    access.db.commit()
    return _with_secret(webhook, secret)


@router.patch("/notifications/webhooks/{webhook_id}", response_model=WebhookWithSecret | WebhookPublic)
def update_webhook(webhook_id: ObjectId, body: WebhookUpdate, request: Request,
                   access: Admin) -> WebhookWithSecret | WebhookPublic:
    webhook = get_visible(access.db, Webhook, webhook_id, "webhook")
    changes = body.model_dump(exclude_unset=True, exclude={"rotate_secret"})
    for field, value in changes.items():
        setattr(webhook, field, value)
    secret = None
    if body.rotate_secret:
        secret = "whsec_" + secrets.token_urlsafe(32)
        webhook.secret_encrypted = request.app.state.secret_box.seal(secret.encode("utf-8"))
    access.db.commit()
    return _with_secret(webhook, secret) if secret else WebhookPublic.model_validate(webhook)


# Its deletion after the patch, as the API document has always listed them.
resource_routes(router, WEBHOOKS, item="/notifications/webhooks/{webhook_id}", names={"delete": "delete_webhook"})


@router.post("/notifications/webhooks/{webhook_id}/test", response_model=DeliveryPublic)
def test_webhook(webhook_id: ObjectId, request: Request, access: Admin) -> Delivery:
    """Send one signed test notification now and show how the receiver answered."""
    webhook = get_visible(access.db, Webhook, webhook_id, "webhook")
    delivery = send_test(access.db, _sender(request, access), webhook)
    access.db.commit()
    return delivery


# --- deliveries and dead letters -------------------------------------------------------------


def _deliveries(access: Access, *, dead_letters: bool, tenant_id: int | None, alarm_id: int | None,
                channel: Channel | None, outcome: DeliveryOutcome | None, limit: int, offset: int) -> Page[DeliveryPublic]:
    statement = select(Delivery).order_by(Delivery.id.desc())
    if dead_letters:
        statement = statement.where(Delivery.dead_lettered.is_(True))
    if tenant_id is not None:
        statement = statement.where(Delivery.tenant_id == tenant_id)
    if alarm_id is not None:
        statement = statement.where(Delivery.alarm_id == alarm_id)
    if channel is not None:
        statement = statement.where(Delivery.channel == channel.value)
    if outcome is not None:
        statement = statement.where(Delivery.outcome == outcome.value)
    return read_page(access.db, statement, PageRequest(limit, offset), DeliveryPublic.model_validate)


@router.get("/notifications/deliveries", response_model=Page[DeliveryPublic])
def list_deliveries(access: Admin, tenant_id: FilterId = None, alarm_id: FilterId = None,
                    channel: Annotated[Channel | None, Query()] = None,
                    outcome: Annotated[DeliveryOutcome | None, Query()] = None,
                    limit: Limit = 50, offset: Offset = 0) -> Page[DeliveryPublic]:
    """Every notification sent, newest first, with outcome and latency."""
    return _deliveries(access, dead_letters=False, tenant_id=tenant_id, alarm_id=alarm_id, channel=channel,
                       outcome=outcome, limit=limit, offset=offset)


@router.get("/notifications/dead-letters", response_model=Page[DeliveryPublic])
def list_dead_letters(access: Admin, tenant_id: FilterId = None, limit: Limit = 50,
                      offset: Offset = 0) -> Page[DeliveryPublic]:
    """Webhook deliveries that failed every attempt; "retry now" sends them again."""
    return _deliveries(access, dead_letters=True, tenant_id=tenant_id, alarm_id=None, channel=None, outcome=None,
                       limit=limit, offset=offset)


@router.post("/notifications/deliveries/{delivery_id}/retry", response_model=DeliveryPublic)
def retry_now(delivery_id: ObjectId, request: Request, access: Admin) -> Delivery:
    """Attempt a failed or dead-lettered webhook delivery once more, now."""
    delivery = get_visible(access.db, Delivery, delivery_id, "delivery")
    if delivery.channel != Channel.webhook or delivery.outcome not in (DeliveryOutcome.failed,
                                                                       DeliveryOutcome.dead_lettered):
        raise conflict("Only failed or dead-lettered webhook deliveries can be retried.")
    if delivery.reason == "test":
        raise conflict("A test send is not retried; send a new test instead.")
    retry_delivery(access.db, _sender(request, access), delivery)
    access.db.commit()
    return delivery


# --- personal settings (self-service) -------------------------------------------------------


@router.get("/me/push-subscriptions", response_model=list[PushSubscriptionPublic])
def my_push_subscriptions(access: OwnSettings) -> list[PushSubscriptionPublic]:
    return presentable(access.db.scalars(select(PushSubscription).order_by(PushSubscription.id)),
                       PushSubscriptionPublic.model_validate)


@router.post("/me/push-subscriptions", response_model=PushSubscriptionPublic, status_code=201)
def subscribe_push(body: PushSubscriptionCreate, request: Request, access: OwnSettings) -> PushSubscription:
    """Register this browser for Web Push (again: the same endpoint updates its keys)."""
    user_agent = body.user_agent or request.headers.get("user-agent", "")[:300]
    with system_session(access.session_factory, reason="is the push endpoint someone else's") as db:
        owner = db.scalar(select(PushSubscription.user_id).where(PushSubscription.endpoint == body.endpoint))
    if owner is not None and owner != access.principal.user_id:
        # Another user registered this browser. Taking the endpoint over would let anyone who learnt
        # it silence that user's pushes; the browser makes a fresh subscription instead.
        raise conflict("This push endpoint belongs to another user; unsubscribe in the browser and subscribe again.")
    subscription = access.db.scalar(select(PushSubscription).where(PushSubscription.endpoint == body.endpoint))
    if subscription is None:
        subscription = PushSubscription(user_id=access.principal.user_id, endpoint=body.endpoint)
        access.db.add(subscription)
    subscription.p256dh, subscription.auth = body.keys["p256dh"], body.keys["auth"]
    subscription.user_agent = user_agent
    access.db.commit()
    return subscription


@router.delete("/me/push-subscriptions", status_code=204)
def unsubscribe_push(access: OwnSettings,
                     endpoint: Annotated[str, Query(min_length=8, max_length=1000, pattern=HTTP_URL)]) -> Response:
    """Unregister a browser by its push endpoint (what the browser knows of itself)."""
    subscription = access.db.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if subscription is None:
        raise not_found("push subscription")
    access.db.delete(subscription)
    access.db.commit()
    return Response(status_code=204)


@router.get("/me/site-mutes", response_model=list[SiteMutePublic])
def my_site_mutes(access: OwnSettings) -> list[SiteMutePublic]:
    mutes = access.db.scalars(select(SiteMute)).all()
    # Sites are read with the user's site.read scope; the personal session sees only personal rows.
    with access.scoped_for(Permission.site_read) as sites:
        names = dict(sites.execute(select(Site.id, Site.name).where(Site.id.in_([m.site_id for m in mutes]))).all())
    listed = [SiteMutePublic(site_id=m.site_id, site_name=names.get(m.site_id, ""), created_at=m.created_at)
              for m in mutes]
    return sorted(listed, key=lambda mute: mute.site_name.lower())


@router.put("/me/site-mutes/{site_id}", response_model=SiteMutePublic)
def mute_site(site_id: ObjectId, access: OwnSettings) -> SiteMutePublic:
    """No notifications about this site and what lies below it, for me."""
    with access.scoped_for(Permission.site_read) as sites:
        site = get_visible(sites, Site, site_id, "site")
        name = site.name
    mute = access.db.scalar(select(SiteMute).where(SiteMute.site_id == site_id))
    if mute is None:
        mute = SiteMute(user_id=access.principal.user_id, site_id=site_id)
        access.db.add(mute)
        access.db.commit()
    return SiteMutePublic(site_id=site_id, site_name=name, created_at=mute.created_at)


@router.delete("/me/site-mutes/{site_id}", status_code=204)
def unmute_site(site_id: ObjectId, access: OwnSettings) -> Response:
    mute = access.db.scalar(select(SiteMute).where(SiteMute.site_id == site_id))
    if mute is None:
        raise not_found("site mute")
    access.db.delete(mute)
    access.db.commit()
    return Response(status_code=204)
