"""A battery reported in volts: stored in volts, shown with the percent its type declares."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from leitstand.devices.models import Device
from leitstand.devicetypes.codecs import UplinkContext, codec_for
from leitstand.devicetypes.service import sync_shipped_types
from leitstand.devicetypes.spec import DeviceTypeSpec
from leitstand.licenses.models import License
from leitstand.licenses.service import term_end
from leitstand.telemetry.models import TelemetryPoint
from tests.helpers.world import World

# A status frame of the binary thermostat: 21.5 °C, target 21.0, valve 42 %, 2850 mV, window shut.
STATUS_FRAME = bytes.fromhex("0100d72a2a0b2200")


def test_a_battery_reported_in_volts_is_stored_in_volts_and_shown_with_its_percent(
        binary_thermostat: DeviceTypeSpec, world: World, app: Any) -> None:
    sync_shipped_types(world.db)
    device = Device(tenant_id=world.alpha.customer.id, type_key="binary_thermostat", serial_number="ALPHA-THB-0001",
                    name="Alpha Binärthermostat", site_id=world.alpha.room.id)
    world.db.add(device)
    world.db.flush()
    starts = date.today() - timedelta(days=30)
    world.db.add(License(device_id=device.id, tenant_id=device.tenant_id, starts_on=starts,
                         ends_on=term_end(starts, 12), term_months=12, auto_renew=True))
    world.db.commit()

    at = datetime.now(UTC) - timedelta(minutes=2)
    decoded = codec_for(binary_thermostat).decode_uplink(STATUS_FRAME, UplinkContext(received_at=at, port=1))
    report = app.state.ingestor.accept(decoded.messages(device.serial_number, at))
    assert not report.rejected, dict(report.rejected)

    stored = world.db.scalar(select(TelemetryPoint.num).where(TelemetryPoint.device_id == device.id,
                                                              TelemetryPoint.key == "battery_voltage"))
    assert stored == 2.85

    html = world.as_user("alpha_operator").get(f"/devices/{device.id}").text
    battery = re.search(r'<div data-reading="battery_voltage"[^>]*>(.*?)</div>', html, re.S)
    assert battery, "no battery reading on the page"
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", battery.group(1))).strip()
    assert text == "Batterie 2,8 V (81 %)"  # the page rounds gauges to one digit; the store keeps 2.85
