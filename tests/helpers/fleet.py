"""More devices in the world: the depot fleet that the device filter's and the device list's tests share."""

from __future__ import annotations

from leitstand.devices.models import Device
from leitstand.sites.models import Site, SiteKind
from leitstand.tenancy.models import new_path_segment


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
