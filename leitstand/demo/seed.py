"""Demo data: a partner with two customers and an end customer, real sites, about 60 devices.

Everything here is plain data run through the same models the API uses, so the
demo shows exactly what a real installation would hold.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.access.models import RoleGrant
from leitstand.access.roles import ScopeKind
from leitstand.accounts.models import User
from leitstand.bootstrap import create_user, root_tenant
from leitstand.clock import clock
from leitstand.devices.claiming import announce_credentials, issue_credentials
from leitstand.devices.models import Device, DeviceShare
from leitstand.devices.service import set_claim_secret
from leitstand.licenses.models import License
from leitstand.licenses.service import record_change, term_end
from leitstand.sites.models import Site, SiteGroup, SiteGroupMember, SiteKind
from leitstand.tenancy.models import Tenant, TenantKind, new_path_segment

DEMO_PASSWORD = "leitstand-demo"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    tenant: str


@dataclass(frozen=True)
class DemoSeed:
    logins: list[DemoLogin]
    devices_with_credentials: int
    broker_failures: dict[str, str]  # serial -> why its credentials did not reach the broker


@dataclass(frozen=True)
class SiteSeed:
    name: str
    street: str
    postal_code: str
    city: str
    latitude: float
    longitude: float


CAR_PARKS = (
    SiteSeed("Parkhaus Hauptbahnhof", "Kirchenallee 55", "20099", "Hamburg", 53.5531, 10.0070),
    SiteSeed("Tiefgarage Jungfernstieg", "Jungfernstieg 30", "20354", "Hamburg", 53.5527, 9.9925),
    SiteSeed("Parkhaus Brill", "Faulenstraße 23", "28195", "Bremen", 53.0780, 8.8010),
    SiteSeed("Parkhaus Kröpcke", "Georgstraße 10", "30159", "Hannover", 52.3744, 9.7386),
)
RESIDENTIAL = (
    SiteSeed("Wohnanlage Bockenheim", "Leipziger Straße 50", "60487", "Frankfurt am Main", 50.1204, 8.6502),
    SiteSeed("Wohnanlage Offenbach Mitte", "Frankfurter Straße 40", "63065", "Offenbach am Main", 50.1046, 8.7597),
    SiteSeed("Bürohaus Rheinstraße", "Rheinstraße 20", "64283", "Darmstadt", 49.8727, 8.6479),
)

# The shipped LoRaWAN models (type key, model name): the demo has one of each.
VENDOR_MODELS = (("milesight_wt101", "WT101"), ("milesight_ws301", "WS301"), ("mclimate_vicki", "Vicki"),
                 ("micropelt_mlr003", "MLR003"))


def _tenant(db: Session, parent: Tenant, name: str, street: str, postal_code: str, city: str) -> Tenant:
    kind = {TenantKind.root: TenantKind.partner, TenantKind.partner: TenantKind.customer}.get(
        TenantKind(parent.kind), TenantKind.end_customer
    )
    tenant = Tenant(
        parent_id=parent.id, kind=kind, name=name, street=street, postal_code=postal_code, city=city,
        path=f"{parent.path}{new_path_segment()}/",
    )
    db.add(tenant)
    db.flush()
    return tenant


def _site(db: Session, tenant: Tenant, seed: SiteSeed) -> Site:
    site = Site(
        tenant_id=tenant.id, kind=SiteKind.site, name=seed.name, street=seed.street, postal_code=seed.postal_code,
        city=seed.city, latitude=seed.latitude, longitude=seed.longitude, path=f"/{new_path_segment()}/",
    )
    db.add(site)
    db.flush()
    return site


def _child(db: Session, parent: Site, kind: SiteKind, name: str) -> Site:
    child = Site(
        tenant_id=parent.tenant_id, parent_id=parent.id, kind=kind, name=name, street=parent.street,
        postal_code=parent.postal_code, city=parent.city, latitude=parent.latitude, longitude=parent.longitude,
        path=f"{parent.path}{new_path_segment()}/",
    )
    db.add(child)
    db.flush()
    return child


class DeviceMaker:
    """Numbers serials per type and gives each device a license with a realistic spread of dates."""

    def __init__(self, db: Session, rng: random.Random) -> None:
        self.db, self.rng, self.counts = db, rng, {}  # type: ignore[var-annotated]
        self.today = clock.now().date()
        self.secrets: dict[str, str] = {}  # serial -> device secret, for the broker once committed

    def make(self, tenant: Tenant, site: Site, type_key: str, name: str, labels: list[str]) -> Device:
        number = self.counts[type_key] = self.counts.get(type_key, 0) + 1
        prefix = {"barrier": "BAR", "bollard": "POL", "thermostat": "THM", "gateway": "GW", "generic_sensor": "SEN",
                  "milesight_wt101": "MWT", "milesight_ws301": "MWS",
                  "mclimate_vicki": "VIC", "micropelt_mlr003": "MLR"}[type_key]
        device = Device(
            tenant_id=tenant.id, type_key=type_key, serial_number=f"{prefix}-2026-{number:04d}", name=name,
            site_id=site.id, labels=labels, claimed_at=clock.now(),
        )
        set_claim_secret(device, f"demo-claim-{prefix.lower()}-{number:04d}")
        self.db.add(device)
        self.db.flush()
        # Claimed, so it has credentials, as a claim would have given it. Nobody keeps the
        # secret: `leitstand simulate` rotates it to log the device in.
        _credential, self.secrets[device.serial_number] = issue_credentials(self.db, device)
        self._license(device)
        return device

    def _license(self, device: Device) -> None:
        roll = self.rng.random()
        if roll < 0.05:
            return  # unlicensed: bought, never activated
        if roll < 0.12:
            starts_on = self.today - timedelta(days=400)  # lapsed, renewal switched off
            auto_renew = False
        elif roll < 0.25:
            starts_on = self.today - timedelta(days=365 - self.rng.randint(3, 28))  # ends within a month
            auto_renew = self.rng.random() < 0.5
        else:
            starts_on = self.today - timedelta(days=self.rng.randint(10, 300))
            auto_renew = True
        license_ = License(
            device_id=device.id, tenant_id=device.tenant_id, starts_on=starts_on, ends_on=term_end(starts_on, 12),
            term_months=12, auto_renew=auto_renew,
        )
        self.db.add(license_)
        record_change(self.db, license_, "created", None)


def _grant(db: Session, user: User, role: str, *, tenant: Tenant | None = None, site: Site | None = None,
           device: Device | None = None) -> None:
    kind = ScopeKind.tenant if tenant else ScopeKind.site if site else ScopeKind.device
    db.add(RoleGrant(
        user_id=user.id, tenant_id=user.tenant_id, role=role, scope_kind=kind,
        scope_tenant_id=tenant.id if tenant else None, site_id=site.id if site else None,
        device_id=device.id if device else None,
    ))


def seed_demo(db: Session) -> DemoSeed:
    """Fill an initialised, empty installation with the demo fleet; commits, then hands the
    devices' credentials to the `CREDENTIAL_CHANGES` listeners of `db`'s factory like a claim
    does (with Mosquitto, its dynamic security). Returns the logins and which credentials did not reach the broker."""
    root = root_tenant(db)
    assert root is not None, "initialise the installation first"
    if db.scalar(select(User.id).limit(1)) is not None:
        raise RuntimeError("the installation already has users; the demo seeds only an empty one")
    rng = random.Random(2026)
    partner = _tenant(db, root, "Nordtor Antriebstechnik GmbH", "Billstraße 80", "20539", "Hamburg")
    car_parks = _tenant(db, partner, "Parkhaus Hanse GmbH", "Ballindamm 17", "20095", "Hamburg")
    housing = _tenant(db, partner, "Wohnbau Rhein-Main eG", "Mainzer Landstraße 150", "60327", "Frankfurt am Main")
    law_firm = _tenant(db, car_parks, "Kanzlei Möller & Partner", "Jungfernstieg 30", "20354", "Hamburg")

    maker = DeviceMaker(db, rng)
    shared: list[Device] = []
    first_car_park: Site | None = None
    for seed in CAR_PARKS:
        site = _site(db, car_parks, seed)
        first_car_park = first_car_park or site
        entry = _child(db, site, SiteKind.area, "Einfahrt")
        exit_ = _child(db, site, SiteKind.area, "Ausfahrt")
        for lane in (1, 2):
            maker.make(car_parks, entry, "barrier", f"{seed.name} Einfahrt {lane}", ["einfahrt"])
            maker.make(car_parks, exit_, "barrier", f"{seed.name} Ausfahrt {lane}", ["ausfahrt"])
        bollard = maker.make(car_parks, entry, "bollard", f"{seed.name} Poller Zufahrt", ["zufahrt"])
        maker.make(car_parks, site, "generic_sensor", f"{seed.name} CO-Sensor", ["luft"])
        if seed.name == "Tiefgarage Jungfernstieg":
            shared.append(bollard)
            shared.append(maker.make(car_parks, entry, "barrier", "Jungfernstieg Mieterzufahrt", ["mieter"]))

    meeting_rooms: list[Site] = []
    for seed in RESIDENTIAL:
        site = _site(db, housing, seed)
        building = _child(db, site, SiteKind.building, "Haus A")
        maker.make(housing, building, "gateway", f"{seed.name} Gateway", ["lorawan"])
        maker.make(housing, building, "generic_sensor", f"{seed.name} Außenfühler", ["wetter"])
        for floor in (1, 2, 3):
            area = _child(db, building, SiteKind.area, f"{floor}. OG")
            for room_name in ("Wohnen", "Küche", "Bad"):
                room = _child(db, area, SiteKind.room, f"{floor}.OG {room_name}")
                if room_name == "Wohnen":
                    meeting_rooms.append(room)
                maker.make(housing, room, "thermostat", f"{seed.name} {floor}.OG {room_name}", ["heizung"])
        if seed is RESIDENTIAL[0]:
            # One of each vendor model heating speaks to over LoRaWAN, in a guest flat of its own.
            ground = _child(db, building, SiteKind.area, "EG")
            flat = _child(db, ground, SiteKind.room, "EG Gästewohnung")
            for type_key, model in VENDOR_MODELS:
                maker.make(housing, flat, type_key, f"{seed.name} Gästewohnung {model}", ["heizung", "lorawan"])
    group = SiteGroup(tenant_id=housing.id, name="Alle Wohnzimmer")
    db.add(group)
    db.flush()
    db.add_all(SiteGroupMember(group_id=group.id, site_id=room.id) for room in meeting_rooms)

    for device in shared:
        db.add(DeviceShare(device_id=device.id, tenant_id=law_firm.id, owner_tenant_id=device.tenant_id))

    people = (
        ("admin@example.com", "Plattform-Admin", root, "platform_admin"),
        ("support@example.com", "Sina Support", root, "platform_support"),
        ("partner@example.com", "Petra Partner", partner, "partner_admin"),
        ("techniker@example.com", "Tim Techniker", partner, "partner_technician"),
        ("betreiber@example.com", "Olaf Betreiber", car_parks, "operator"),
        ("haustechnik@example.com", "Hanna Haustechnik", car_parks, "operator_technician"),
        ("wohnbau@example.com", "Wiebke Wohnbau", housing, "operator"),
        ("lesen@example.com", "Lena Lesen", housing, "read_only"),
        ("integration@example.com", "ERP-Schnittstelle", housing, "integration"),
        ("endkunde@example.com", "Emil Endkunde", law_firm, "end_customer"),
    )
    logins = []
    for email, name, tenant, role in people:
        create_user(db, tenant=tenant, email=email, display_name=name, password=DEMO_PASSWORD, role=role)
        logins.append(DemoLogin(email, role, tenant.name))
    # A grant on one site, not a tenant: this technician sees a single car park.
    site_tech = create_user(db, tenant=car_parks, email="parkhaus-hbf@example.com", display_name="Sven Standort",
                            password=DEMO_PASSWORD, role=None)
    assert first_car_park is not None
    _grant(db, site_tech, "operator_technician", site=first_car_park)
    logins.append(DemoLogin(site_tech.email, "operator_technician (one site)", car_parks.name))
    db.commit()
    failures = {serial: "; ".join(failed) for serial, secret in maker.secrets.items()
                if (failed := announce_credentials(db, serial, secret))}
    return DemoSeed(logins, len(maker.secrets), failures)
