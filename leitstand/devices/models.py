"""Devices: one physical unit each, identified by its serial number.

A device is reached over one or more transports. Each way in is a `DeviceBinding`: the
transport, the connection it arrives through, and the id the device has there (its
*external id*). A *connection* is one of a tenant's own endpoints: a LoRaWAN network
server, an OCPP endpoint, a meter-file source; it holds that endpoint's secrets sealed.
"""

from __future__ import annotations

from datetime import datetime

from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, UniqueConstraint, event, insert, inspect
from sqlalchemy import text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from leitstand.db.base import Base, CreatedAtMixin, IdMixin, json_holds, utcnow
from leitstand.i18n import Message
from leitstand.ingest.message import NATIVE_TRANSPORT, BindingKey, native_key
from leitstand.tenancy.deletion import TenantDeleteBlocker
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


DEVICES_BLOCK_TENANT_DELETE = TenantDeleteBlocker(
    Device.tenant_id, Message("The tenant still has devices; remove or move them first."))


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


# The transport name of Leitstand's own protocol (JSON v1 over MQTT or HTTP): its external id
# is the serial number, and it needs no connection row (see DeviceBinding).
_NATIVE_ONLY = text("connection_id IS NULL")


class DeviceConnection(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """A tenant's endpoint of a non-native transport: a network server (ChirpStack, TTS), an
    OCPP endpoint, a meter-file source. `settings` holds what may be shown (URLs, ids);
    the secrets (API keys, passwords) are one JSON object sealed with the installation key
    (`leitstand.devices.connections`), never returned by any API and never audited in clear."""

    __tablename__ = "device_connections"
    __table_args__ = (json_holds("settings", "object"), UniqueConstraint("tenant_id", "name"))
    __audited__ = True
    __audit_secret__ = frozenset({"secrets_sealed"})

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    transport: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # None until secrets are set (and after a tenant import, which never carries them).
    secrets_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return tenant_visible(scope, cls.tenant_id)


class DeviceBinding(IdMixin, CreatedAtMixin, ScopedModel, Base):
    """One way a device is reached: (transport, connection, external id) → device.

    The external id is unique per connection: a serial for the native transports, a DevEUI
    for LoRaWAN, a charge-point identity for OCPP, MaLo/MeLo plus OBIS for meter files.

    The native binding has no connection (connection_id NULL). Native serials are one
    namespace for the whole installation (a device logs in with its serial, whoever owns
    it), not a tenant's endpoint, so a connection row would have to belong to no tenant or
    to a made-up one. Unique constraints treat NULLs as distinct on both SQLite and
    PostgreSQL, so the native namespace gets its own partial unique indexes; the CHECK
    keeps "native" and "no connection" the same thing. Every device has its native binding:
    `leitstand.devices.bindings` writes it whenever a device row is inserted.
    """

    __tablename__ = "device_bindings"
    __table_args__ = (
        CheckConstraint("(transport = 'native' AND connection_id IS NULL) OR "
                        "(transport <> 'native' AND connection_id IS NOT NULL)", name="native_has_no_connection"),
        UniqueConstraint("connection_id", "external_id", name="uq_device_bindings_connection_external_id"),
        UniqueConstraint("connection_id", "device_id", name="uq_device_bindings_connection_device"),
        Index("uq_device_bindings_native_external_id", "external_id", unique=True,
              sqlite_where=_NATIVE_ONLY, postgresql_where=_NATIVE_ONLY),
        Index("uq_device_bindings_native_device", "device_id", unique=True,
              sqlite_where=_NATIVE_ONLY, postgresql_where=_NATIVE_ONLY),
    )
    __audited__ = True

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    transport: Mapped[str] = mapped_column(String(32))
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("device_connections.id", ondelete="CASCADE"),
                                                      index=True)
    external_id: Mapped[str] = mapped_column(String(128))

    @classmethod
    def visible_in(cls, scope):  # type: ignore[no-untyped-def]
        return device_visible(scope, cls.device_id)


class ConnectionEvent(Base):
    """An event a connection's far end sent, by the id it gave it (a ChirpStack deduplication
    id, a TTS correlation id): a replay of it is refused instead of being applied twice.
    Kept for `CONNECTION_EVENT_DAYS` (network servers replay within minutes, not days)."""

    __tablename__ = "connection_events"
    __table_args__ = (UniqueConstraint("connection_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("device_connections.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


CONNECTION_EVENT_DAYS = 7


@event.listens_for(Session, "after_flush")
def _native_binding_follows_the_serial(session: Session, flush_context: Any) -> None:
    """Every device row written through the ORM gets its native binding in the same flush,
    and a changed serial number moves it along: no path that creates a device can forget it.
    (Core bulk inserts of devices, as the tenant import does, write their bindings themselves.)"""
    added = [obj for obj in session.new if isinstance(obj, Device)]
    renamed = [obj for obj in session.dirty if isinstance(obj, Device)
               and inspect(obj).attrs.serial_number.history.deleted]
    if not (added or renamed):
        return
    connection = session.connection()
    if added:
        now = utcnow()
        connection.execute(insert(DeviceBinding.__table__), [
            {"device_id": device.id, "transport": NATIVE_TRANSPORT, "connection_id": None,
             "external_id": device.serial_number, "created_at": now} for device in added])
    bindings = DeviceBinding.__table__
    for device in renamed:
        connection.execute(update(bindings).where(bindings.c.device_id == device.id, bindings.c.connection_id.is_(None))
                           .values(external_id=device.serial_number))
