"""Sending planned deliveries and recording them; the VAPID keys; retries and escalations.

`Sender` carries what every channel needs (settings, the VAPID key, the webhook
secrets' SecretBox, long-lived HTTP clients). The notifier (dispatch.py) uses it
for new alarms; the scheduler jobs and the API use it for retries, escalations and
test sends. The functions here never commit unless they say so.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr

import httpx
import requests
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leitstand.alarms.change import AlarmChange
from leitstand.auth.secrets import SecretBox
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.notifications.channels import (
    Channel,
    DeliveryResult,
    Notification,
    Outcome,
    RetryPolicy,
    VapidKeys,
    generate_vapid_keys,
    send_email,
    send_push,
    send_webhook,
)
from leitstand.notifications.channels.push import PushSubscription as PushTarget
from leitstand.notifications.channels.webhook import DEFAULT_RETRY_POLICY
from leitstand.notifications.models import (
    Delivery,
    DeliveryOutcome,
    EscalationWatch,
    NotificationKey,
    PushSubscription,
    RoutingRule,
    Webhook,
)
from leitstand.notifications.routing import PlannedDelivery, plan_escalation
from leitstand.notifications.wording import (
    alarm_notification,
    notification_from_payload,
    sample_notification,
)

VAPID_KEY_NAME = "vapid"
# A retry or escalation batch per scheduler tick; the rest follow on the next tick.
BATCH = 200


# --- VAPID keys --------------------------------------------------------------------------------


def ensure_vapid_keys(db: Session, box: SecretBox) -> VapidKeys:
    """The installation's VAPID pair, generated (and committed) the first time it is needed."""
    row = db.get(NotificationKey, VAPID_KEY_NAME)
    if row is None:
        keys = generate_vapid_keys()
        db.add(NotificationKey(name=VAPID_KEY_NAME, private_sealed=box.seal(keys.private_key_pem.encode("ascii")),
                               public_key=keys.application_server_key))
        try:
            db.commit()
        except IntegrityError:  # another process made one at the same moment: use theirs
            db.rollback()
        row = db.get(NotificationKey, VAPID_KEY_NAME)
        assert row is not None
    return VapidKeys(private_key_pem=box.open(row.private_sealed).decode("ascii"), application_server_key=row.public_key)


def vapid_public_key(db: Session) -> str | None:
    return db.scalar(select(NotificationKey.public_key).where(NotificationKey.name == VAPID_KEY_NAME))


def vapid_subject(settings: Settings) -> str:
    """The contact push services may reach: the sender address, else the portal's https URL."""
    address = parseaddr(settings.mail_from)[1]
    if address:
        return f"mailto:{address}"
    return settings.origin if settings.origin.startswith("https://") else "mailto:noreply@leitstand.local"


# --- sending --------------------------------------------------------------------------------


@dataclass
class SendOutcome:
    planned: PlannedDelivery
    notification: Notification
    result: DeliveryResult


class Sender:
    def __init__(self, settings: Settings, box: SecretBox, *, policy: RetryPolicy = DEFAULT_RETRY_POLICY,
                 timeout: float = 10.0) -> None:
        self.settings = settings
        self.box = box
        self.policy = policy
        self.timeout = timeout
        self.http = httpx.Client(limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
        self._local = threading.local()  # requests.Session is not documented as thread-safe
        self._vapid: VapidKeys | None = None

    def close(self) -> None:
        self.http.close()

    def vapid(self, db: Session) -> VapidKeys:
        if self._vapid is None:
            self._vapid = ensure_vapid_keys(db, self.box)
        return self._vapid

    def _push_session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def webhook_secret(self, webhook: Webhook) -> str:
        return self.box.open(webhook.secret_encrypted).decode("utf-8")

    def send(self, planned: PlannedDelivery, notification: Notification, *, vapid: VapidKeys | None,
             delivery_key: str) -> DeliveryResult:
        if planned.channel == Channel.push:
            assert planned.subscription is not None and vapid is not None
            target = PushTarget(planned.subscription.endpoint, planned.subscription.p256dh, planned.subscription.auth)
            return send_push(target, notification, vapid.private_key_pem, vapid_subject(self.settings),
                             timeout=self.timeout, session=self._push_session())
        if planned.channel == Channel.email:
            assert planned.recipient is not None
            return send_email(self.settings, planned.target, notification, language=planned.recipient.language,
                              timeout=self.timeout)
        assert planned.webhook is not None
        return send_webhook(planned.webhook.url, self.webhook_secret(planned.webhook), notification,
                            delivery_id=delivery_key, policy=self.policy, timeout=self.timeout, client=self.http)

    def word(self, planned: PlannedDelivery, facts: AlarmChange, escalated_after: int | None = None) -> Notification:
        # Webhooks feed machines: English wording, with the language-neutral facts in `data`.
        language = planned.recipient.language if planned.recipient else "en"
        return alarm_notification(facts, language, self.settings.public_url, escalated_after_minutes=escalated_after,
                                  time_zone=self.settings.default_time_zone)


def new_delivery_key() -> str:
    """The `Leitstand-Delivery` id, known before the delivery row exists (it is sent first)."""
    return f"dlv-{secrets.token_urlsafe(12)}"


def apply_result(delivery: Delivery, result: DeliveryResult) -> None:
    """Copy one attempt's result onto the delivery record."""
    delivery.outcome = DeliveryOutcome(result.outcome.value)
    delivery.status_code = result.status_code
    delivery.detail = result.detail[:500]
    delivery.attempt_ms = round(result.latency_ms, 3)
    delivery.attempts = result.attempts
    delivery.last_attempt_at = result.at
    delivery.next_attempt_at = result.retry_at
    delivery.dead_lettered = result.outcome is Outcome.dead_lettered
    if delivery.event_at is not None:
        delivery.latency_ms = round(max((result.at - delivery.event_at).total_seconds() * 1000, 0.0), 3)


def record(db: Session, outcomes: list[SendOutcome], *, tenant_id: int, alarm_id: int | None, reason: str,
           event_at: datetime | None, keys: list[str]) -> list[Delivery]:
    """Store what was sent; delete push subscriptions the push service called gone."""
    deliveries = []
    for outcome, key in zip(outcomes, keys, strict=True):
        planned = outcome.planned
        delivery = Delivery(
            tenant_id=tenant_id, alarm_id=alarm_id, rule_id=planned.rule_id,
            user_id=planned.recipient.user_id if planned.recipient else None,
            webhook_id=planned.webhook.id if planned.webhook else None, reason=reason, channel=planned.channel.value,
            target=planned.target[:2000], event_at=event_at, payload={**outcome.notification.as_dict(), "key": key},
            outcome=DeliveryOutcome.failed,
        )
        apply_result(delivery, outcome.result)
        db.add(delivery)
        deliveries.append(delivery)
        if planned.subscription is not None:
            if outcome.result.outcome is Outcome.gone:
                db.execute(delete(PushSubscription).where(PushSubscription.id == planned.subscription.id))
            elif outcome.result.ok:
                db.execute(PushSubscription.__table__.update().where(PushSubscription.id == planned.subscription.id)
                           .values(last_used_at=outcome.result.at))
    return deliveries


# --- retries --------------------------------------------------------------------------------


def retry_delivery(db: Session, sender: Sender, delivery: Delivery) -> Delivery:
    """One more attempt of a webhook delivery, now. After the policy's last attempt it is dead-lettered."""
    webhook = db.get(Webhook, delivery.webhook_id) if delivery.webhook_id else None
    if webhook is None or not webhook.enabled:
        delivery.outcome = DeliveryOutcome.dead_lettered
        delivery.dead_lettered = True
        delivery.next_attempt_at = None
        delivery.detail = "the webhook was deleted or disabled"
        return delivery
    notification = notification_from_payload(delivery.payload)
    key = delivery.payload.get("key") or delivery.delivery_key
    result = send_webhook(webhook.url, sender.webhook_secret(webhook), notification, delivery_id=key,
                          attempt=delivery.attempts + 1, policy=sender.policy, timeout=sender.timeout,
                          client=sender.http)
    delivery.target = webhook.url
    apply_result(delivery, result)
    return delivery


def retry_due_webhooks(db: Session, sender: Sender) -> int:
    """The scheduler's job: every failed webhook delivery whose next attempt is due. Commits."""
    due = db.scalars(
        select(Delivery).where(Delivery.channel == Channel.webhook.value, Delivery.outcome == DeliveryOutcome.failed,
                               Delivery.next_attempt_at <= clock.now())
        .order_by(Delivery.next_attempt_at).limit(BATCH)
    ).all()
    for delivery in due:
        retry_delivery(db, sender, delivery)
        db.commit()
    return len(due)


# --- escalation -----------------------------------------------------------------------------


def watch_for_escalation(db: Session, facts: AlarmChange, rules: list[RoutingRule]) -> None:
    for rule in rules:
        assert rule.escalate_after_minutes
        db.add(EscalationWatch(tenant_id=facts.tenant_id, alarm_id=facts.alarm_id, rule_id=rule.id,
                               escalate_at=facts.raised_at + timedelta(minutes=rule.escalate_after_minutes),
                               alarm=facts.as_json()))


def settle_escalations(db: Session, alarm_id: int) -> None:
    """The alarm was acknowledged or cleared: nobody needs to be escalated to."""
    for watch in db.scalars(select(EscalationWatch).where(EscalationWatch.alarm_id == alarm_id,
                                                          EscalationWatch.settled_at.is_(None),
                                                          EscalationWatch.escalated_at.is_(None))):
        watch.settled_at = clock.now()


def _still_unacknowledged(db: Session, alarm_id: int) -> bool:
    from leitstand.alarms.models import Alarm, AlarmState

    state = db.scalar(select(Alarm.state).where(Alarm.id == alarm_id))
    return state == AlarmState.active


def escalate_due(db: Session, sender: Sender) -> int:
    """The scheduler's job: alarms still unacknowledged when their rule's time is up. Commits.

    Each watch escalates once: it is marked escalated (or settled) in the same
    transaction that records the deliveries.
    """
    now = clock.now()
    due = db.scalars(
        select(EscalationWatch).where(EscalationWatch.escalate_at <= now, EscalationWatch.settled_at.is_(None),
                                      EscalationWatch.escalated_at.is_(None))
        .order_by(EscalationWatch.escalate_at).limit(BATCH)
    ).all()
    escalated = 0
    for watch in due:
        rule = db.get(RoutingRule, watch.rule_id)
        if rule is None or not rule.enabled or not _still_unacknowledged(db, watch.alarm_id):
            watch.settled_at = now
            db.commit()
            continue
        facts = AlarmChange.from_json(watch.alarm)
        planned = plan_escalation(db, rule, facts)
        vapid = sender.vapid(db) if any(p.channel == Channel.push for p in planned) else None
        outcomes = []
        for item in planned:
            notification = sender.word(item, facts, escalated_after=rule.escalate_after_minutes)
            key = new_delivery_key()
            outcomes.append((SendOutcome(item, notification, sender.send(item, notification, vapid=vapid,
                                                                         delivery_key=key)), key))
        record(db, [o for o, _ in outcomes], tenant_id=watch.tenant_id, alarm_id=watch.alarm_id,
               reason="escalation", event_at=facts.event_at, keys=[k for _, k in outcomes])
        watch.escalated_at = now
        db.commit()
        escalated += 1
    return escalated


# --- test sends -----------------------------------------------------------------------------


def send_test(db: Session, sender: Sender, webhook: Webhook) -> Delivery:
    """One signed test request to a webhook, recorded but never retried or dead-lettered."""
    notification = sample_notification(sender.settings.public_url)
    key = new_delivery_key()
    started = clock.now()
    result = send_webhook(webhook.url, sender.webhook_secret(webhook), notification, delivery_id=key,
                          policy=RetryPolicy(attempts=1), timeout=sender.timeout, client=sender.http)
    delivery = Delivery(tenant_id=webhook.tenant_id, webhook_id=webhook.id, reason="test",
                        channel=Channel.webhook.value, target=webhook.url, event_at=started,
                        payload={**notification.as_dict(), "key": key}, outcome=DeliveryOutcome.failed)
    apply_result(delivery, result)
    if not result.ok:  # a test shows the answer; it is no delivery to retry
        delivery.outcome, delivery.dead_lettered, delivery.next_attempt_at = DeliveryOutcome.failed, False, None
    db.add(delivery)
    return delivery
