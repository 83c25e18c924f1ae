"""Ingest: from canonical device messages to stored data, in named steps.

    resolve device → license gate → validate against the type → store points
    → update live state and events → record command results → publish live updates

`Ingestor.accept()` takes a batch of messages, commits them in one transaction and
only then returns: a transport acknowledges a message (MQTT PUBACK, HTTP 202) after
`accept()` has returned, so a crash never loses an acknowledged message. A bad
message is refused and counted per device and reason; it never fails the batch.

What is stored, and the licence gate, belong to the domains above ingest: the pipeline
reaches them through its ports (leitstand.ingest.ports), which the composition root
builds (leitstand.app.ingest_ports).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from leitstand.clock import clock
from leitstand.devices.models import NATIVE_TRANSPORT, BindingKey, Device, DeviceBinding, native_key
from leitstand.devicetypes.spec import UnknownDeviceType, spec_for
from leitstand.ingest.apply import BatchWriter
from leitstand.ingest.checks import Rejection
from leitstand.ingest.events import BatchSubscriber, KnownDevice
from leitstand.ingest.message import LIVE_BACKFILL, BackfillPolicy, DeviceMessage, IngestReport, MessageKind, RejectReason
from leitstand.ingest.ports import IngestPorts, Licenses, Refusal
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session

log = logging.getLogger(__name__)

LICENSE_HEARTBEAT = timedelta(hours=24)


class DeviceDirectory:
    """Binding → KnownDevice, cached for a short while: ingest must not query per message.

    A device is found by how its transport names it, (transport, connection, external id);
    the native transports name it by its serial (`native_key`). An unknown binding is cached
    too (as None), so a stranger sending again and again costs no query either. The licence's
    terms come with the device, in the same query (`Licenses.with_terms`).
    """

    def __init__(self, factory: sessionmaker[Session], licenses: Licenses,
                 ttl: timedelta = timedelta(seconds=30)) -> None:
        self.factory = factory
        self.licenses = licenses
        self.ttl = ttl
        self._cache: dict[BindingKey, tuple[datetime, KnownDevice | None]] = {}

    def forget(self, serial: str | None = None) -> None:
        """Drop the cached device of a serial (its native binding), or everything."""
        if serial is None:
            self._cache.clear()
        else:
            self.forget_binding(native_key(serial))

    def forget_binding(self, key: BindingKey) -> None:
        self._cache.pop(key, None)

    def lookup(self, serials: Sequence[str]) -> dict[str, KnownDevice | None]:
        """Devices by serial, through their native bindings."""
        found = self.resolve([(NATIVE_TRANSPORT, None, serial) for serial in serials])  # type: ignore[misc]
        return {external_id: device for (_, _, external_id), device in found.items()}

    def resolve(self, keys: Sequence[BindingKey]) -> dict[BindingKey, KnownDevice | None]:
        now = clock.now()
        wanted = set(keys)
        cache = self._cache
        missing = [key for key in wanted if (entry := cache.get(key)) is None or entry[0] <= now]
        if missing:
            self._load(missing, now)
        return {key: cache[key][1] for key in wanted}

    def _load(self, keys: list[BindingKey], now: datetime) -> None:
        by_connection: dict[tuple[str, int | None], list[str]] = {}
        for transport, connection_id, external_id in keys:
            by_connection.setdefault((transport, connection_id), []).append(external_id)
        # One condition per connection in the batch: almost always one, the native namespace.
        matches = [
            and_(DeviceBinding.connection_id.is_(None) if connection_id is None
                 else DeviceBinding.connection_id == connection_id,
                 DeviceBinding.transport == transport, DeviceBinding.external_id.in_(external_ids))
            for (transport, connection_id), external_ids in by_connection.items()
        ]
        with system_session(self.factory, reason="ingest device lookup") as db:
            devices = (
                select(DeviceBinding.transport, DeviceBinding.connection_id, DeviceBinding.external_id,
                       Device, Tenant.time_zone, Tenant.path, Site.path)
                .join(Device, Device.id == DeviceBinding.device_id)
                .join(Tenant, Tenant.id == Device.tenant_id)
                .outerjoin(Site, Site.id == Device.site_id)
            )
            rows = db.execute(self.licenses.with_terms(devices, Device.id).where(or_(*matches))).all()
            found: dict[BindingKey, KnownDevice] = {}
            for transport, connection_id, external_id, device, zone, tenant_path, site_path, starts, ends in rows:
                try:
                    spec = spec_for(device.type_key, db)
                except UnknownDeviceType:
                    continue
                found[BindingKey(transport, connection_id, external_id)] = KnownDevice(
                    id=device.id, serial=device.serial_number, tenant_id=device.tenant_id, time_zone=zone,
                    type_spec=spec, license_starts=starts, license_ends=ends,
                    decommissioned=device.decommissioned_at is not None,
                    name=device.name, tenant_path=tenant_path, site_id=device.site_id, site_path=site_path,
                )
        for key in keys:
            self._cache[key] = (now + self.ttl, found.get(key))


LiveListener = Callable[[int, dict[str, Any]], None]
# All live updates of a batch at once: for a cross-process notifier, one round trip per batch.
LiveBatchListener = Callable[[Sequence[tuple[int, dict[str, Any]]]], None]


class Ingestor:
    """Turns batches of canonical messages into stored data. One per process; thread-safe
    as long as each call to accept() comes from one thread at a time per transport.

    ports: where the batch is stored and who may ingest (leitstand.ingest.ports), from the
    composition root (leitstand.app.ingest_ports).
    subscribers: called with each committed batch's IngestedBatch (leitstand.ingest.events),
    the rules step among them; the composition root subscribes them (leitstand.app.ingestor_for).
    """

    def __init__(self, factory: sessionmaker[Session], ports: IngestPorts, listeners: Sequence[LiveListener] = (),
                 live_batch_listeners: Sequence[LiveBatchListener] = (),
                 subscribers: Sequence[BatchSubscriber] = ()) -> None:
        self.factory = factory
        self.ports = ports
        self.directory = DeviceDirectory(factory, ports.licenses)
        self.listeners: list[LiveListener] = list(listeners)
        self.live_batch_listeners: list[LiveBatchListener] = list(live_batch_listeners)
        self.subscribers: list[BatchSubscriber] = list(subscribers)
        self.totals = IngestReport()

    # --- refusals -------------------------------------------------------------------

    def reject(self, serial: str | None, reason: str, detail: str) -> None:
        """Count a message the transport could not even decode."""
        device = self.directory.lookup([serial]).get(serial) if serial else None
        with system_session(self.factory, reason="count ingest rejection") as db:
            self.ports.count_rejections(db, [(device.id if device else None, reason, detail)])
            db.commit()
        self.totals.rejected[reason] += 1

    # --- the pipeline ---------------------------------------------------------------

    def accept(self, messages: Sequence[DeviceMessage], backfill: BackfillPolicy = LIVE_BACKFILL) -> IngestReport:
        """Store a batch in one transaction. Returns only after the commit.

        backfill: how old (or how far ahead) the batch's readings may be: its source's
        policy; a live transport's by default.

        The license gate asks whether the device's license is active *now*, at ingest, not
        at a reading's time: a batch source backfilling years of history for a device
        licensed today is accepted, also for the years before the license began; a device
        whose license has ended loses even readings from while it was active (only its
        heartbeats are processed).
        """
        report = IngestReport()
        if not messages:
            return report
        # Plain tuples equal (and hash like) BindingKeys, and cost less to build per message.
        keys = [message.binding or (NATIVE_TRANSPORT, None, message.serial) for message in messages]
        devices = self.directory.resolve(keys)
        today = clock.now().date()
        ports = self.ports
        licensed_on = ports.licenses.licensed_on
        refusals: list[Refusal] = []
        with system_session(self.factory, reason="ingest batch") as db:
            batch = BatchWriter(db, ports, backfill=backfill)
            for message, key in zip(messages, keys):
                device = devices.get(key)
                try:
                    if device is None:
                        raise _unknown(message)
                    if device.decommissioned:
                        raise Rejection(RejectReason.decommissioned, f"{message.serial} is decommissioned")
                    licensed = licensed_on(device, today)
                    if not licensed and message.kind != MessageKind.heartbeat:
                        raise Rejection(RejectReason.unlicensed, "license not active: only heartbeats are processed")
                    batch.add(device, message, licensed)
                    report.accepted += 1
                except Rejection as refusal:
                    refusals.append((device.id if device else None, refusal.reason, refusal.detail))
                    report.rejected[refusal.reason] += 1
            report.points_written = batch.flush()
            ports.count_rejections(db, refusals)
            db.commit()
            updates = batch.live_updates
        ingested = batch.ingested() if self.subscribers and report.accepted else None
        for reason, count in report.rejected.items():
            self.totals.rejected[reason] += count
        self.totals.accepted += report.accepted
        self.totals.points_written += report.points_written
        self.announce(updates)
        if ingested is not None:
            for subscriber in self.subscribers:
                try:
                    subscriber(ingested)
                except Exception:  # rules must never fail a batch that is already stored
                    log.exception("batch subscriber failed")
        return report

    def announce(self, updates: list[tuple[int, dict[str, Any]]]) -> None:
        for tenant_id, update in updates:
            for listener in self.listeners:
                try:
                    listener(tenant_id, update)
                except Exception:  # a broken live view must not break ingest
                    log.exception("live listener failed")
        for batch_listener in self.live_batch_listeners:
            try:
                batch_listener(updates)
            except Exception:
                log.exception("live batch listener failed")


def _unknown(message: DeviceMessage) -> Rejection:
    if message.binding is None:
        return Rejection(RejectReason.unknown_device, f"no device {message.serial!r}")
    transport, connection_id, external_id = message.binding
    return Rejection(RejectReason.unknown_binding,
                     f"no device bound as {external_id!r} on {transport} connection {connection_id}")
