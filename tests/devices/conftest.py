"""Fixtures shared by the device tests."""

from __future__ import annotations

import pytest

from leitstand.devices import claiming
from leitstand.devices.models import Device
from leitstand.sites.models import Site, SiteKind
from leitstand.tenancy.models import new_path_segment


@pytest.fixture
def heard(app):  # type: ignore[no-untyped-def]
    """What the test app's credential listeners were told."""
    calls: list[tuple[str, str | None]] = []
    claiming.CREDENTIAL_CHANGES.listeners(app.state.session_factory).subscribe(
        lambda serial, secret: calls.append((serial, secret)))
    return calls


def add_depot_fleet(world, *more: Device) -> None:  # type: ignore[no-untyped-def]
    """Beside each organisation's barrier and thermostat: Alpha's gateway in the building and a
    barrier at a second site, "Alpha Depot"; then `more`. Committed."""
    db, alpha = world.db, world.alpha
    depot = Site(tenant_id=alpha.customer.id, kind=SiteKind.site, name="Alpha Depot", path=f"/{new_path_segment()}/")
    db.add(depot)
    db.flush()
    db.add_all([
        Device(tenant_id=alpha.customer.id, type_key="gateway", serial_number="ALPHA-GW-0001",
               name="Alpha Gateway Haus", site_id=alpha.building.id, labels=["lorawan", "dach"]),
        Device(tenant_id=alpha.customer.id, type_key="barrier", serial_number="ALPHA-BAR-0002",
               name="Alpha Schranke Depot", site_id=depot.id, labels=["ausfahrt"]),
        *more,
    ])
    db.commit()
