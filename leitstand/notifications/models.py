"""Tables of notification routing and delivery.

- A *routing rule* says which alarms (severity, site subtree, device type) of a tenant
  reach whom (users, roles) on which channels, and whom to escalate to when nobody
  acknowledges in time.
- A *site mute* and a *push subscription* belong to one user (self-service).
- A *webhook* is an integration's endpoint with its signing secret, stored encrypted
  because every request is signed with it.
- A *delivery* is one notification to one target: its outcome, latency and retries.
- An *escalation watch* remembers, per alarm and rule, when to escalate if the alarm
  is still unacknowledged then; the scheduler works through the due ones.
- *Notification keys* hold the installation's VAPID key pair (private half encrypted).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.auth.models import PersonalModel
from leitstand.db.base import Base, CreatedAtMixin, IdMixin, json_holds, utcnow
from leitstand.tenancy.scope import ScopedModel, tenant_visible


class DeliveryOutcome(enum.StrEnum):
    delivered = "delivered"
    failed = "failed"  # a webhook delivery with `next_attempt_at` is retried by the scheduler
    gone = "gone"  # the push subscription no longer exists; it was deleted
    dead_lettered = "dead_lettered"  # every allowed attempt failed; waits for "retry now"
    skipped = "skipped"  # nothing to send to (e.g. a disabled webhook)


class RoutingRule(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """Which alarms of a tenant (and its sub-tenants) go to whom, on which channels.

    Empty filter lists mean "any": no site ids → every site, no type keys → every type.
    A site id covers its buildings, areas and rooms.
    """

    __tablename__ = "notification_rules"
    __audited__ = True
    __table_args__ = tuple(json_holds(column, "array") for column in (
        "severities", "site_ids", "device_type_keys", "user_ids", "roles", "channels", "webhook_ids",
        "escalation_user_ids", "escalation_roles"))

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    severities: Mapped[list[str]] = mapped_column(JSON, default=list)
    site_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    device_type_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    user_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    webhook_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    escalate_after_minutes: Mapped[int | None] = mapped_column(Integer)
    escalation_user_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    escalation_roles: Mapped[list[str]] = mapped_column(JSON, default=list)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.tenant_id)


class SiteMute(IdMixin, CreatedAtMixin, PersonalModel, Base):
    """A user does not want notifications about this site (and what lies below it)."""

    __tablename__ = "notification_site_mutes"
    __audited__ = True
    __table_args__ = (UniqueConstraint("user_id", "site_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)


class PushSubscription(IdMixin, CreatedAtMixin, PersonalModel, Base):
    """One browser (installed PWA) of a user that receives Web Push."""

    __tablename__ = "push_subscriptions"
    __audited__ = True
    __audit_secret__ = frozenset({"auth"})

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    last_used_at: Mapped[datetime | None]


class Webhook(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """An integration's URL. Its secret signs every request, so it is kept encrypted, not hashed."""

    __tablename__ = "notification_webhooks"
    __audited__ = True
    __audit_secret__ = frozenset({"secret_encrypted"})

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.tenant_id)


class Delivery(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """One notification to one target, with how it went.

    `latency_ms` runs from `event_at`, the device message that caused the alarm (or the
    alarm's raise time), to the moment the channel had handed the notification over
    on the latest attempt;
    `attempt_ms` is the channel's own share of it. `payload` keeps the notification
    as sent, so a retry sends the identical body.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (json_holds("payload", "object"),)

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # No foreign key: the delivery log is kept as it was, whatever becomes of the alarm.
    alarm_id: Mapped[int | None] = mapped_column(Integer, index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("notification_rules.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("notification_webhooks.id", ondelete="SET NULL"),
                                                   index=True)
    reason: Mapped[str] = mapped_column(String(20), default="alarm")  # alarm | escalation | test
    channel: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(2000))
    outcome: Mapped[str] = mapped_column(String(20), index=True)
    status_code: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(500), default="")
    # When the device message that caused the alarm arrived (or the alarm was raised).
    event_at: Mapped[datetime | None]
    latency_ms: Mapped[float | None] = mapped_column(Float)
    attempt_ms: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    dead_lettered: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.tenant_id)

    @property
    def delivery_key(self) -> str:
        """Fallback `Leitstand-Delivery` id; sends store theirs as `payload["key"]`, the same on every retry."""
        return f"dlv-{self.id}"


class EscalationWatch(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """An alarm that a rule escalates unless it is acknowledged (or cleared) by `escalate_at`."""

    __tablename__ = "notification_escalations"
    __table_args__ = (UniqueConstraint("alarm_id", "rule_id"), json_holds("alarm", "object"))

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("notification_rules.id", ondelete="CASCADE"), index=True)
    escalate_at: Mapped[datetime] = mapped_column(index=True)
    settled_at: Mapped[datetime | None]  # acknowledged or cleared in time: no escalation
    escalated_at: Mapped[datetime | None]
    # The alarm as it was raised, to word the escalation without reaching into the alarms domain.
    alarm: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.tenant_id)


class NotificationKey(Base):
    """Installation-wide keys of the notification channels: the VAPID pair for Web Push.

    The private half is sealed with the installation's SecretBox; the public half is
    what browsers subscribe with and may be shown to anyone.
    """

    __tablename__ = "notification_keys"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    private_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    public_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
