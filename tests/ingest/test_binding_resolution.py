"""Ingest resolves a device by its binding: (transport, connection, external id).

The native transports name a device by its serial; others by the external id on their
connection. An unknown binding is refused and counted, and the lookup stays a cache hit.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from leitstand.auth.secrets import SecretBox
from leitstand.clock import clock
from leitstand.devices.bindings import bind_device
from leitstand.devices.connections import create_connection
from leitstand.devices.models import BindingKey, DeviceConnection
from leitstand.ingest.message import DeviceMessage, MessageKind, Reading
from leitstand.ingest.pipeline import Ingestor
from leitstand.telemetry.models import TelemetryPoint
from tests.helpers.ingest import bare_ingestor
from tests.helpers.world import World

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
DEV_EUI = "70B3D57ED0000001"


@pytest.fixture
def ingestor(session_factory, world: World) -> Ingestor:  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    return bare_ingestor(session_factory)


@pytest.fixture
def network_server(world: World, settings) -> DeviceConnection:  # type: ignore[no-untyped-def]
    connection = create_connection(world.db, SecretBox(settings.resolved_secret_key()), tenant_id=world.alpha.customer.id,
                                   transport="chirpstack", name="ChirpStack")
    world.db.flush()
    bind_device(world.db, world.alpha.barrier, connection, DEV_EUI)
    world.db.commit()
    return connection


def cycles(binding: BindingKey, value: int) -> DeviceMessage:
    return DeviceMessage.via(binding, MessageKind.telemetry, NOW, readings=(Reading("cycles", NOW, value),))


def stored_cycles(world: World, device_id: int) -> list[float | None]:
    world.db.expire_all()
    return list(world.db.scalars(select(TelemetryPoint.num).where(TelemetryPoint.device_id == device_id,
                                                                   TelemetryPoint.key == "cycles")))


def test_a_message_through_a_binding_is_stored_on_the_bound_device(world, ingestor, network_server):
    report = ingestor.accept([cycles(BindingKey("chirpstack", network_server.id, DEV_EUI), 42)])

    assert report.accepted == 1
    assert stored_cycles(world, world.alpha.barrier.id) == [42.0]


def test_a_native_message_still_names_its_device_by_serial(world, ingestor, network_server):
    serial = world.alpha.barrier.serial_number
    report = ingestor.accept([DeviceMessage(serial=serial, kind=MessageKind.telemetry, received_at=NOW,
                                            readings=(Reading("cycles", NOW, 7),))])

    assert report.accepted == 1
    assert stored_cycles(world, world.alpha.barrier.id) == [7.0]


@pytest.mark.parametrize("binding", [
    BindingKey("chirpstack", None, DEV_EUI),  # filled in below: the right connection, an unknown DevEUI
    BindingKey("chirpstack", -1, DEV_EUI),  # the right DevEUI on a connection that does not exist
    BindingKey("tts", None, DEV_EUI),  # the right connection id under another transport
])
def test_an_unknown_binding_is_refused_and_counted(world, ingestor, network_server, binding):
    if binding.connection_id is None:
        binding = binding._replace(connection_id=network_server.id, external_id="70B3D57ED00000FF")
    if binding.transport == "tts":
        binding = binding._replace(connection_id=network_server.id)

    report = ingestor.accept([cycles(binding, 1), cycles(BindingKey("chirpstack", network_server.id, DEV_EUI), 2)])

    assert (report.accepted, report.rejected["unknown_binding"]) == (1, 1)
    assert ingestor.totals.rejected["unknown_binding"] == 1
    assert stored_cycles(world, world.alpha.barrier.id) == [2.0]


def test_an_external_id_is_resolved_per_connection(world, ingestor, network_server, settings):
    beta_server = create_connection(world.db, SecretBox(settings.resolved_secret_key()),
                                    tenant_id=world.beta.customer.id, transport="chirpstack", name="ChirpStack")
    world.db.flush()
    bind_device(world.db, world.beta.barrier, beta_server, DEV_EUI)
    world.db.commit()

    ingestor.accept([cycles(BindingKey("chirpstack", network_server.id, DEV_EUI), 1),
                     cycles(BindingKey("chirpstack", beta_server.id, DEV_EUI), 2)])

    assert stored_cycles(world, world.alpha.barrier.id) == [1.0]
    assert stored_cycles(world, world.beta.barrier.id) == [2.0]


def test_a_known_binding_costs_no_query_once_cached(world, ingestor, network_server, session_factory):
    binding = BindingKey("chirpstack", network_server.id, DEV_EUI)
    ingestor.directory.resolve([binding, BindingKey("chirpstack", network_server.id, "UNKNOWN")])
    statements: list[str] = []
    engine = session_factory.kw["bind"]
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        found = ingestor.directory.resolve([binding, BindingKey("chirpstack", network_server.id, "UNKNOWN")])
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert found[binding].id == world.alpha.barrier.id
    assert found[BindingKey("chirpstack", network_server.id, "UNKNOWN")] is None
    assert statements == []
    assert world.db.scalar(select(func.count()).select_from(TelemetryPoint)) == 0
