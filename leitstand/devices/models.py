"""Devices: one physical unit each, identified by its serial number."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin, json_holds
from leitstand.tenancy.scope import ScopedModel, device_visible, tenant_visible


class Device(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """A device. The claim secret (printed on its QR label) proves possession when it is claimed."""

    __tablename__ = "devices"
    __table_args__ = (json_holds("labels", "array"),)
    __audited__ = True
    __audit_secret__ = frozenset({"claim_secret_hash"})

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    type_key: Mapped[str] = mapped_column(ForeignKey("device_types.key"), index=True)
    serial_number: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    labels: Mapped[list[str]] = mapped_column(default=list)
    claim_secret_hash: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None]
    decommissioned_at: Mapped[datetime | None]

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.id)


class DeviceShare(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """A device made visible to another (end-customer) tenant besides its owner."""

    __tablename__ = "device_shares"
    __audited__ = True
    __table_args__ = (UniqueConstraint("device_id", "tenant_id"),)

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # The owner of the device, so the owner's administrators see and manage the share.
    owner_tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.owner_tenant_id)


class DeviceCredential(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """What a device logs in with: MQTT username and password, or an HTTP ingest token.

    The username is the serial number; the secret is 256 random bits, issued once at
    claiming or rotation and stored only as its SHA-256 hash. Rotation revokes the old one.
    """

    __tablename__ = "device_credentials"
    __audited__ = True
    __audit_secret__ = frozenset({"secret_hash"})

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime | None]

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)
