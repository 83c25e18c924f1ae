"""What a committed batch tells its subscribers: the IngestedBatch (leitstand.ingest.events)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.ingest.events import IngestedBatch
from leitstand.ingest.message import DeviceMessage, MessageKind, Reading
from tests.helpers.ingest import bare_ingestor
from tests.helpers.world import World

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def batches() -> list[IngestedBatch]:
    return []


@pytest.fixture
def ingestor(session_factory, world: World, batches):  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    return bare_ingestor(session_factory, subscribers=[batches.append])


def telemetry(serial: str, at: datetime, *readings: tuple[str, object]) -> DeviceMessage:
    return DeviceMessage(serial=serial, kind=MessageKind.telemetry, received_at=at,
                         readings=tuple(Reading(key, at, value) for key, value in readings))  # type: ignore[arg-type]


def test_a_subscriber_gets_the_devices_latest_values_and_events_of_a_committed_batch(world, ingestor, batches):
    barrier, other = world.alpha.barrier, world.beta.barrier
    earlier = NOW - timedelta(seconds=5)
    error = DeviceMessage(serial=barrier.serial_number, kind=MessageKind.event, received_at=NOW, sent_at=NOW,
                          event_code="E01", event_data={"detail": "jammed"})

    ingestor.accept([telemetry(barrier.serial_number, NOW, ("cycles", 12)),
                     telemetry(barrier.serial_number, earlier, ("cycles", 11), ("position", "closed")),
                     error, telemetry(other.serial_number, NOW, ("cycles", 3))])

    [batch] = batches
    assert set(batch.devices) == {barrier.id, other.id}
    assert batch.devices[barrier.id].serial == barrier.serial_number
    assert batch.devices[barrier.id].type_spec.key == "barrier"
    assert batch.last_seen[barrier.id] == NOW
    # The newest value per key, not the last one in the batch.
    assert dict(batch.latest[barrier.id]) == {"cycles": (NOW, 12), "position": (earlier, "closed")}
    assert dict(batch.latest[other.id]) == {"cycles": (NOW, 3)}
    events = {(event.device_id, event.kind, event.code) for event in batch.events}
    assert (barrier.id, "error", "E01") in events
    assert (barrier.id, "connectivity", "online") in events  # derived by ingest, stored too
    [stored_error] = [event for event in batch.events if event.code == "E01"]
    assert stored_error.data == {"detail": "jammed"} and stored_error.at == NOW and stored_error.severity


def test_a_batch_of_refused_messages_is_not_announced(world, ingestor, batches):
    report = ingestor.accept([telemetry("no-such-device", NOW, ("cycles", 1))])

    assert report.accepted == 0
    assert batches == []


def test_a_batch_that_rolls_back_is_not_announced(world, ingestor, batches):
    barrier = world.alpha.barrier
    ingestor.accept([telemetry(barrier.serial_number, NOW, ("cycles", 1))])
    batches.clear()
    # Deleted while ingest's directory still knows it: the batch fails on the database.
    world.db.execute(delete(Device).where(Device.id == barrier.id))
    world.db.commit()

    with pytest.raises(Exception):
        ingestor.accept([telemetry(barrier.serial_number, NOW + timedelta(seconds=1), ("cycles", 2))])

    assert batches == []
