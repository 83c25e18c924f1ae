"""Routing: from an alarm to the people and endpoints that must hear of it.

    matching rules (tenant and its ancestors, plus tenants the device is shared with;
    severity, site subtree, device type)
    → recipients (named users, holders of named roles)
    → only those who may see the alarm (alarm.read through their own grants: the device's
      alarms to who sees the device, a catalogue alarm to its tenant only)
    → minus those who muted the site (or one above it)
    → planned deliveries: push to each of their browsers, e-mail, the rule's webhooks

All of it reads through a system session: routing acts for no single principal, and
the visibility check is done per recipient with that recipient's own scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from leitstand.access.models import RoleGrant
from leitstand.access.rules import below_site, path_within
from leitstand.accounts.models import User
from leitstand.alarms.change import AlarmChange
from leitstand.alarms.models import UNKNOWN_CODE_KIND, Alarm
from leitstand.auth.principal import load_principal
from leitstand.devices.models import DeviceShare
from leitstand.notifications.channels import Channel
from leitstand.notifications.models import PushSubscription, RoutingRule, SiteMute, Webhook
from leitstand.permissions import Permission
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant, path_prefixes


@dataclass(frozen=True)
class Recipient:
    user_id: int
    email: str
    language: str


@dataclass(frozen=True)
class PlannedDelivery:
    """One notification to send: to a user's browser or mailbox, or to a webhook."""

    channel: Channel
    target: str
    rule_id: int | None
    recipient: Recipient | None = None
    subscription: PushSubscription | None = None
    webhook: Webhook | None = None


@dataclass
class RoutingPlan:
    deliveries: list[PlannedDelivery] = field(default_factory=list)
    escalating_rules: list[RoutingRule] = field(default_factory=list)


def matching_rules(db: Session, facts: AlarmChange) -> list[RoutingRule]:
    """Enabled rules of the alarm's tenant, its ancestors and the tenants its device is shared
    with (not for a catalogue alarm: that is its tenant's alone), that fit."""
    tenant = db.get(Tenant, facts.tenant_id)
    if tenant is None:
        return []
    tenants = [select(Tenant.id).where(Tenant.path.in_(path_prefixes(tenant.path)))]
    if facts.kind != UNKNOWN_CODE_KIND:
        tenants.append(select(DeviceShare.tenant_id).where(DeviceShare.device_id == facts.device_id))
    rules = db.scalars(
        select(RoutingRule).where(RoutingRule.enabled.is_(True), or_(*(RoutingRule.tenant_id.in_(t) for t in tenants)))
        .order_by(RoutingRule.id)
    ).all()
    site_path = _site_path(db, facts.site_id)
    return [rule for rule in rules if _fits(db, rule, facts, site_path)]


def _site_path(db: Session, site_id: int | None) -> str | None:
    return db.scalar(select(Site.path).where(Site.id == site_id)) if site_id is not None else None


def _fits(db: Session, rule: RoutingRule, facts: AlarmChange, site_path: str | None) -> bool:
    if rule.severities and facts.severity not in rule.severities:
        return False
    if rule.device_type_keys and facts.device_type_key not in rule.device_type_keys:
        return False
    if rule.site_ids:
        if site_path is None:
            return False
        rule_paths = db.scalars(select(Site.path).where(Site.id.in_(rule.site_ids))).all()
        if not any(below_site(site_path, prefix) for prefix in rule_paths):
            return False
    return True


def _candidates(db: Session, rule_tenant: Tenant, user_ids: Sequence[int], roles: Sequence[str]) -> list[User]:
    """Named users, and holders of the named roles in the rule tenant's line (above or below it)."""
    found: dict[int, User] = {}
    if user_ids:
        for user in db.scalars(select(User).where(User.id.in_(list(user_ids)))):
            found[user.id] = user
    if roles:
        related = path_within(Tenant.path, rule_tenant.path) | Tenant.path.in_(path_prefixes(rule_tenant.path))
        holders = db.scalars(
            select(User).join(RoleGrant, RoleGrant.user_id == User.id).join(Tenant, Tenant.id == User.tenant_id)
            .where(RoleGrant.role.in_(list(roles)), related).distinct()
        )
        for user in holders:
            found[user.id] = user
    return [user for user in found.values() if user.is_active]


def can_see_alarm(db: Session, user: User, alarm_id: int) -> bool:
    """Whether the user's own grants give them alarm.read on the alarm."""
    scope = load_principal(db, user).scope_for(Permission.alarm_read)
    if scope.is_empty:
        return False
    if scope.unrestricted:
        return True
    return db.scalar(select(Alarm.id).where(Alarm.id == alarm_id, Alarm.visible_in(scope))) is not None


def muted_user_ids(db: Session, site_id: int | None, user_ids: Iterable[int]) -> set[int]:
    """Users who muted the alarm's site or a site above it."""
    site_path = _site_path(db, site_id)
    ids = list(user_ids)
    if site_path is None or not ids:
        return set()
    above_or_at = select(Site.id).where(Site.path.in_(path_prefixes(site_path)))
    return set(db.scalars(select(SiteMute.user_id).where(SiteMute.user_id.in_(ids), SiteMute.site_id.in_(above_or_at))))


def recipients(db: Session, rule: RoutingRule, facts: AlarmChange, user_ids: Sequence[int],
               roles: Sequence[str]) -> list[Recipient]:
    rule_tenant = db.get(Tenant, rule.tenant_id)
    if rule_tenant is None:
        return []
    users = [user for user in _candidates(db, rule_tenant, user_ids, roles)
             if can_see_alarm(db, user, facts.alarm_id)]
    muted = muted_user_ids(db, facts.site_id, [user.id for user in users])
    return [Recipient(user.id, user.email, user.language) for user in users if user.id not in muted]


def person_deliveries(db: Session, rule: RoutingRule, people: Sequence[Recipient],
                      already: set[tuple[str, str]]) -> list[PlannedDelivery]:
    """Push to every browser and an e-mail per person, once each even if several rules match."""
    planned: list[PlannedDelivery] = []
    channels = set(rule.channels)
    for person in people:
        if Channel.push in channels:
            for subscription in db.scalars(select(PushSubscription).where(PushSubscription.user_id == person.user_id)):
                if (Channel.push, subscription.endpoint) not in already:
                    already.add((Channel.push, subscription.endpoint))
                    planned.append(PlannedDelivery(Channel.push, subscription.endpoint, rule.id, person,
                                                   subscription=subscription))
        if Channel.email in channels and (Channel.email, person.email) not in already:
            already.add((Channel.email, person.email))
            planned.append(PlannedDelivery(Channel.email, person.email, rule.id, person))
    return planned


def plan_alarm(db: Session, facts: AlarmChange) -> RoutingPlan:
    """Everything to send for a newly raised alarm, and the rules that will escalate it."""
    plan = RoutingPlan()
    already: set[tuple[str, str]] = set()
    for rule in matching_rules(db, facts):
        people = recipients(db, rule, facts, rule.user_ids, rule.roles)
        plan.deliveries += person_deliveries(db, rule, people, already)
        if Channel.webhook in rule.channels and rule.webhook_ids:
            hooks = db.scalars(select(Webhook).where(Webhook.id.in_(rule.webhook_ids), Webhook.enabled.is_(True),
                                                     Webhook.tenant_id == rule.tenant_id))
            for hook in hooks:
                if (Channel.webhook, str(hook.id)) not in already:
                    already.add((Channel.webhook, str(hook.id)))
                    plan.deliveries.append(PlannedDelivery(Channel.webhook, hook.url, rule.id, webhook=hook))
        if rule.escalate_after_minutes and (rule.escalation_user_ids or rule.escalation_roles):
            plan.escalating_rules.append(rule)
    return plan


def plan_escalation(db: Session, rule: RoutingRule, facts: AlarmChange) -> list[PlannedDelivery]:
    """The escalation group's notifications, on the rule's person channels (webhooks had theirs)."""
    people = recipients(db, rule, facts, rule.escalation_user_ids, rule.escalation_roles)
    return person_deliveries(db, rule, people, set())
