"""A small two-partner world for API tests.

root
├── Alpha Partner (partner)         ── users: alpha_admin (partner_admin)
│   └── Alpha Kunde (customer)      ── alpha_operator (operator), alpha_reader (read_only),
│       │                              alpha_site_tech (operator_technician on one site)
│       └── Alpha Endkunde (end customer) ── alpha_end (end_customer); one device shared here
└── Beta Partner (partner)          ── beta_admin (partner_admin)
    └── Beta Kunde (customer)       ── beta_operator (operator)

Both customers hold the same shape of data: a site with building and room, a
barrier and a thermostat, a license, a site group, a custom device type, and
personal records (API token, YubiKey, security key) of their operator. Every
name of Alpha's data contains ALPHA_MARK, so a test can check a response for leaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from leitstand.access.models import RoleGrant
from leitstand.access.roles import ScopeKind
from leitstand.accounts.models import User
from leitstand.auth.models import ApiToken, WebAuthnKey, YubiKey
from leitstand.auth.principal import ACCOUNT_SCOPE
from leitstand.auth.secrets import new_token, token_digest
from leitstand.bootstrap import create_user, root_tenant
from leitstand.clock import clock
from leitstand.commands.models import Command
from leitstand.devices.models import Device, DeviceShare
from leitstand.devices.service import set_claim_secret
from leitstand.devicetypes.models import DeviceType
from leitstand.devicetypes.spec import DeviceTypeSpec, Text
from leitstand.licenses.models import License
from leitstand.licenses.service import record_change, term_end
from leitstand.permissions import Permission
from leitstand.sites.models import Site, SiteGroup, SiteGroupMember, SiteKind
from leitstand.tenancy.models import Tenant, TenantKind, new_path_segment

PASSWORD = "correct horse battery"
ALPHA_MARK = "ALPHA-7Q"
BETA_MARK = "BETA-3Z"


class ApiClient:
    """A TestClient that authenticates every request with one user's API token."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.token = client, token

    def request(self, method: str, url: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.request("DELETE", url, **kwargs)


@dataclass
class Organisation:
    """One customer's data: what the isolation tests point at."""

    mark: str
    partner: Tenant
    customer: Tenant
    site: Site
    building: Site
    room: Site
    barrier: Device
    thermostat: Device
    license: License
    group: SiteGroup
    device_type: DeviceType
    operator: User
    token: ApiToken
    yubikey: YubiKey
    security_key: WebAuthnKey
    grant: RoleGrant
    command: Command
    end_customer: Tenant | None = None
    # Path parameters of later domains' records, seeded by tests/api/bodies_<domain>.py SEED.
    extra_ids: dict[str, Any] = field(default_factory=dict)

    def ids(self) -> dict[str, Any]:
        """Path parameter values pointing at this organisation's records."""
        return self.extra_ids | {
            "tenant_id": self.customer.id, "user_id": self.operator.id, "site_id": self.site.id,
            "group_id": self.group.id, "device_id": self.barrier.id, "license_id": self.license.id,
            "grant_id": self.grant.id, "type_key": self.device_type.key, "token_id": self.token.id,
            "key_id": self.yubikey.id, "command_id": self.command.public_id,
        }


@dataclass
class World:
    app: Any
    db: Session
    client: TestClient
    root: Tenant
    alpha: Organisation
    beta: Organisation
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, app: Any, db: Session) -> World:
        root = root_tenant(db)
        assert root is not None
        users: dict[str, User] = {}
        alpha = _organisation(db, root, "Alpha", ALPHA_MARK, users)
        beta = _organisation(db, root, "Beta", BETA_MARK, users)
        alpha.end_customer = _tenant(db, alpha.customer, f"Alpha Endkunde {ALPHA_MARK}")
        db.add(DeviceShare(device_id=alpha.barrier.id, tenant_id=alpha.end_customer.id, owner_tenant_id=alpha.customer.id))
        users["alpha_end"] = create_user(db, tenant=alpha.end_customer, email="end@alpha.test",
                                         display_name=f"Alpha End {ALPHA_MARK}", password=PASSWORD, role="end_customer")
        users["alpha_reader"] = create_user(db, tenant=alpha.customer, email="reader@alpha.test",
                                            display_name=f"Alpha Reader {ALPHA_MARK}", password=PASSWORD, role="read_only")
        tech = create_user(db, tenant=alpha.customer, email="sitetech@alpha.test",
                           display_name=f"Alpha Site Tech {ALPHA_MARK}", password=PASSWORD, role=None)
        db.add(RoleGrant(user_id=tech.id, tenant_id=tech.tenant_id, role="operator_technician",
                         scope_kind=ScopeKind.site, site_id=alpha.site.id))
        users["alpha_site_tech"] = tech
        users["platform_admin"] = create_user(db, tenant=root, email="admin@root.test", display_name="Root Admin",
                                              password=PASSWORD, role="platform_admin")
        db.commit()
        client = TestClient(app, base_url="http://localhost:8000")
        world = cls(app=app, db=db, client=client, root=root, alpha=alpha, beta=beta, users=users)
        return world

    def token_for(self, user_key: str, scopes: list[str] | None = None) -> str:
        """An API token for a user; by default with every scope (each permission, and `account` for
        the own account under /me), so only the user's grants limit it."""
        user = self.users[user_key]
        raw = new_token("lst_")
        self.db.add(ApiToken(user_id=user.id, name="test", prefix=raw[:10], token_hash=token_digest(raw),
                             scopes=scopes or [*(p.value for p in Permission), ACCOUNT_SCOPE]))
        self.db.commit()
        return raw

    def as_user(self, user_key: str, scopes: list[str] | None = None) -> ApiClient:
        return ApiClient(self.client, self.token_for(user_key, scopes))

    def grant(self, user_key: str, role: str, *, tenant: Tenant | None = None, site: Site | None = None,
              device: Device | None = None) -> RoleGrant:
        user = self.users[user_key]
        kind = ScopeKind.tenant if tenant else ScopeKind.site if site else ScopeKind.device
        grant = RoleGrant(user_id=user.id, tenant_id=user.tenant_id, role=role, scope_kind=kind,
                          scope_tenant_id=tenant.id if tenant else None, site_id=site.id if site else None,
                          device_id=device.id if device else None)
        self.db.add(grant)
        self.db.commit()
        return grant

    def user_with_role(self, key: str, role: str | None, tenant: Tenant) -> User:
        user = create_user(self.db, tenant=tenant, email=f"{key}@roles.test", display_name=key,
                           password=PASSWORD, role=role)
        self.db.commit()
        self.users[key] = user
        return user


def _tenant(db: Session, parent: Tenant, name: str) -> Tenant:
    kind = {TenantKind.root: TenantKind.partner, TenantKind.partner: TenantKind.customer}.get(
        TenantKind(parent.kind), TenantKind.end_customer)
    tenant = Tenant(parent_id=parent.id, kind=kind, name=name, path=f"{parent.path}{new_path_segment()}/", city="Hamburg")
    db.add(tenant)
    db.flush()
    return tenant


def _site(db: Session, tenant: Tenant, parent: Site | None, kind: SiteKind, name: str) -> Site:
    site = Site(tenant_id=tenant.id, parent_id=parent.id if parent else None, kind=kind, name=name,
                path=f"{parent.path if parent else '/'}{new_path_segment()}/", city="Hamburg",
                latitude=53.55, longitude=10.0)
    db.add(site)
    db.flush()
    return site


def _organisation(db: Session, root: Tenant, label: str, mark: str, users: dict[str, User]) -> Organisation:
    lower = label.lower()
    partner = _tenant(db, root, f"{label} Partner {mark}")
    customer = _tenant(db, partner, f"{label} Kunde {mark}")
    site = _site(db, customer, None, SiteKind.site, f"{label} Parkhaus {mark}")
    building = _site(db, customer, site, SiteKind.building, f"{label} Haus {mark}")
    room = _site(db, customer, building, SiteKind.room, f"{label} Raum {mark}")
    device_type = DeviceType(key=f"{lower}_custom", tenant_id=customer.id, name=f"{label} Typ {mark}",
                             category="sensor", spec=DeviceTypeSpec(
                                 key=f"{lower}_custom", name=Text(en=f"{label} type {mark}", de=f"{label} Typ {mark}"),
                                 category="sensor", heartbeat_seconds=600).model_dump(mode="json"))
    db.add(device_type)
    barrier = Device(tenant_id=customer.id, type_key="barrier", serial_number=f"{label.upper()}-BAR-0001",
                     name=f"{label} Schranke {mark}", site_id=room.id, labels=["einfahrt"], claimed_at=clock.now())
    thermostat = Device(tenant_id=customer.id, type_key="thermostat", serial_number=f"{label.upper()}-THM-0001",
                        name=f"{label} Thermostat {mark}", site_id=room.id, labels=["heizung"])
    for device in (barrier, thermostat):
        set_claim_secret(device, f"{lower}-claim-secret-{device.serial_number}")
        db.add(device)
    db.flush()
    starts = date.today() - timedelta(days=30)
    license_ = License(device_id=barrier.id, tenant_id=customer.id, starts_on=starts, ends_on=term_end(starts, 12),
                       term_months=12, auto_renew=True)
    db.add(license_)
    record_change(db, license_, "created", None)
    group = SiteGroup(tenant_id=customer.id, name=f"{label} Gruppe {mark}")
    db.add(group)
    db.flush()
    db.add(SiteGroupMember(group_id=group.id, site_id=room.id))
    admin = create_user(db, tenant=partner, email=f"admin@{lower}.test", display_name=f"{label} Admin {mark}",
                        password=PASSWORD, role="partner_admin")
    operator = create_user(db, tenant=customer, email=f"operator@{lower}.test", display_name=f"{label} Operator {mark}",
                           password=PASSWORD, role="operator")
    users[f"{lower}_admin"], users[f"{lower}_operator"] = admin, operator
    raw = new_token("lst_")
    token = ApiToken(user_id=operator.id, name=f"{label} ERP {mark}", prefix=raw[:10], token_hash=token_digest(raw),
                     scopes=["device.read"])
    yubikey = YubiKey(user_id=operator.id, name=f"{label} YubiKey {mark}", public_id={"alpha": "ccccccccccbb", "beta": "ccccccccccdd"}[lower],
                      secret_encrypted=b"not-a-real-secret", last_counter=-1)
    security_key = WebAuthnKey(user_id=operator.id, name=f"{label} Key {mark}", credential_id=f"{lower}-cred".encode(),
                               public_key=b"not-a-real-key")
    db.add_all([token, yubikey, security_key])
    db.flush()
    grant = db.query(RoleGrant).filter(RoleGrant.user_id == operator.id).one()
    command = Command(public_id=f"{lower[:1]}" * 16, device_id=barrier.id, tenant_id=customer.id, name="open",
                      parameters={}, idempotency_key=f"{lower}-first", status="confirmed",
                      expires_at=clock.now() + timedelta(seconds=30))
    db.add(command)
    db.flush()
    return Organisation(mark=mark, partner=partner, customer=customer, site=site, building=building, room=room,
                        barrier=barrier, thermostat=thermostat, license=license_, group=group,
                        device_type=device_type, operator=operator, token=token, yubikey=yubikey,
                        security_key=security_key, grant=grant, command=command)
