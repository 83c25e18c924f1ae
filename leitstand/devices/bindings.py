"""Binding devices to the transports that reach them.

The native binding (serial over MQTT or HTTP) is written with the device itself
(`leitstand.devices.models`); this module binds a device to a connection of another
transport, and repairs devices that were written in bulk without their native binding.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, exists, insert, select
from sqlalchemy.orm import Session

from leitstand.access.rules import within_tenant
from leitstand.devices.models import NATIVE_TRANSPORT, Device, DeviceBinding, DeviceConnection
from leitstand.tenancy.models import Tenant


class BindingRefused(ValueError):
    """A binding that would reach a device through a connection it may not use."""


def bind_device(db: Session, device: Device, connection: DeviceConnection, external_id: str) -> DeviceBinding:
    """Reach `device` through `connection` as `external_id` (a DevEUI, a charge-point identity, ...).

    A connection serves its own tenant and the tenants below it, never a stranger's device.
    An external id already bound on this connection is refused by the database's unique index.
    """
    tenant_paths = dict(db.execute(select(Tenant.__table__.c.id, Tenant.__table__.c.path).where(
        Tenant.__table__.c.id.in_([device.tenant_id, connection.tenant_id]))).all())
    device_path, connection_path = tenant_paths.get(device.tenant_id), tenant_paths.get(connection.tenant_id)
    if device_path is None or connection_path is None or not within_tenant(device_path, connection_path):
        raise BindingRefused("the connection belongs to another organisation than the device")
    binding = DeviceBinding(device_id=device.id, transport=connection.transport, connection_id=connection.id,
                            external_id=external_id)
    db.add(binding)
    return binding


def bound_type_key(db: Session, connection_id: int, external_id: str) -> str | None:
    """The type of the device bound as `external_id` on the connection, or None if none is."""
    return db.scalar(select(Device.type_key).join(DeviceBinding, DeviceBinding.device_id == Device.id)
                     .where(DeviceBinding.connection_id == connection_id, DeviceBinding.external_id == external_id))


def add_missing_native_bindings(connection: Connection) -> int:
    """Give every device without a native binding its own (for devices inserted in bulk,
    past the ORM flush that writes it). Returns how many were added."""
    devices, bindings = Device.__table__, DeviceBinding.__table__
    missing = select(devices.c.id, devices.c.serial_number, devices.c.created_at).where(~exists().where(and_(
        bindings.c.device_id == devices.c.id, bindings.c.connection_id.is_(None))))
    rows = [{"device_id": device_id, "transport": NATIVE_TRANSPORT, "connection_id": None, "external_id": serial,
             "created_at": created_at} for device_id, serial, created_at in connection.execute(missing)]
    if rows:
        connection.execute(insert(bindings), rows)
    return len(rows)
