"""Alarm tests: an ingestor over the test database, a frozen clock, and message builders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from leitstand.alarms.models import Alarm
from leitstand.alarms.rules import rule_book
from leitstand.clock import clock
from leitstand.ingest.message import DeviceMessage, MessageKind, Reading
from leitstand.licenses.models import License
from leitstand.licenses.service import term_end
from leitstand.app import ingestor_for
from tests.helpers.world import World

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_rules():  # type: ignore[no-untyped-def]
    # Listeners need no reset: each test's session factory and app carry their own.
    rule_book.invalidate()
    yield
    rule_book.invalidate()


@pytest.fixture
def ingestor(session_factory, world: World):  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    published: list = []
    ingest = ingestor_for(session_factory, listeners=[lambda tenant_id, update: published.append((tenant_id, update))])
    ingest.published = published  # type: ignore[attr-defined]
    # The world's thermostat has no license; alarms need its telemetry to pass the license gate.
    starts = date(2026, 1, 1)
    world.db.add(License(device_id=world.alpha.thermostat.id, tenant_id=world.alpha.customer.id, starts_on=starts,
                         ends_on=term_end(starts, 12), term_months=12, auto_renew=True))
    world.db.commit()
    return ingest


def telemetry(serial: str, *readings: tuple[str, Any]) -> DeviceMessage:
    now = clock.now()
    return DeviceMessage(serial=serial, kind=MessageKind.telemetry, received_at=now,
                         readings=tuple(Reading(key, now, value) for key, value in readings))


def error_event(serial: str, code: str, **data: Any) -> DeviceMessage:
    now = clock.now()
    return DeviceMessage(serial=serial, kind=MessageKind.event, received_at=now, sent_at=now,
                         event_code=code, event_data=data)


def alarms_of(world: World, device_id: int) -> list[Alarm]:
    world.db.expire_all()
    return list(world.db.scalars(select(Alarm).where(Alarm.device_id == device_id).order_by(Alarm.id)))


def open_alarms(world: World, device_id: int) -> list[Alarm]:
    return [alarm for alarm in alarms_of(world, device_id) if alarm.state != "cleared"]


def advance(seconds: float) -> None:
    clock.advance(timedelta(seconds=seconds))
