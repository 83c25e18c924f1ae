"""What the management pages read: users with their grants, grant targets, customers, licenses, the audit log.

Every query runs on a session scoped by the principal's grants (`access.db` or
`access.scoped_for(...)`), so a list can only ever hold what the API would show.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from leitstand.access.models import RoleGrant
from leitstand.access.roles import PLATFORM_ROLE, ROLES, Role, ScopeKind
from leitstand.access.rules import path_within
from leitstand.accounts.models import User
from leitstand.audit.api import AuditFilters
from leitstand.audit.models import AuditEntry
from leitstand.auth.models import ApiToken
from leitstand.auth.principal import Principal
from leitstand.clock import clock
from leitstand.devices.models import Device, DeviceShare
from leitstand.licenses.models import License, LicenseChange, LicenseStatus
from leitstand.licenses.service import status_filter
from leitstand.permissions import Permission
from leitstand.portal.listing import Sort, Sortable
from leitstand.sites.models import Site
from leitstand.tenancy.models import ALLOWED_CHILD_KIND, Tenant, TenantKind
from leitstand.web.crud import contains, read_page
from leitstand.web.deps import Access
from leitstand.web.types import Page, PageRequest

PAGE_SIZE = 50
# Selects of grant and share targets stay usable; beyond this an admin narrows by search in the API.
MAX_CHOICES = 500
EXPIRING_DAYS = 30


def role_label(role: Role | str, language: str) -> str:
    role = ROLES[role] if isinstance(role, str) and role in ROLES else role
    if isinstance(role, str):
        return role  # a role no longer declared: show its key rather than fail
    return role.label_de if language == "de" else role.label_en


def grantable_roles(principal: Principal, grantee_tenant: Tenant | None) -> list[Role]:
    """Roles an admin could grant at all: only those whose every permission they hold themselves.

    The API checks the target too; this only keeps hopeless choices out of the select.
    """
    roles = []
    for role in ROLES.values():
        if role.key == PLATFORM_ROLE and (grantee_tenant is None or grantee_tenant.kind != TenantKind.root):
            continue
        if all(principal.has(permission) for permission in role.permissions):
            roles.append(role)
    return roles


def time_zone_of(access: Access) -> ZoneInfo:
    """The principal's organisation's time zone, for showing timestamps as people read them."""
    tenant = access.db.get(Tenant, access.principal.tenant_id)
    try:
        return ZoneInfo(tenant.time_zone if tenant else "Europe/Berlin")
    except (KeyError, ValueError):
        return ZoneInfo("Europe/Berlin")


# --- names of grant targets -------------------------------------------------------------------


def names_by_id(db: Session, model: Any, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {key for key in ids if key is not None}
    if not wanted:
        return {}
    return dict(db.execute(select(model.id, model.name).where(model.id.in_(wanted))).all())


@dataclass
class GrantRow:
    grant: RoleGrant
    role_label: str
    scope_label: str
    target_name: str


def grants_of(db: Session, user_ids: Sequence[int], language: str) -> dict[int, list[GrantRow]]:
    """Each user's grants with the name of what they cover, as far as the session sees it."""
    if not user_ids:
        return {}
    grants = list(db.scalars(select(RoleGrant).where(RoleGrant.user_id.in_(user_ids)).order_by(RoleGrant.id)))
    tenants = names_by_id(db, Tenant, (g.scope_tenant_id for g in grants))
    sites = names_by_id(db, Site, (g.site_id for g in grants))
    devices = names_by_id(db, Device, (g.device_id for g in grants))
    result: dict[int, list[GrantRow]] = {user_id: [] for user_id in user_ids}
    for grant in grants:
        kind = ScopeKind(grant.scope_kind)
        target_id, names = {
            ScopeKind.tenant: (grant.scope_tenant_id, tenants),
            ScopeKind.site: (grant.site_id, sites),
            ScopeKind.device: (grant.device_id, devices),
        }[kind]
        name = names.get(target_id or 0, f"#{target_id}")
        result[grant.user_id].append(GrantRow(grant, role_label(grant.role, language), kind.value, name))
    return result


# --- users -------------------------------------------------------------------------------------

USER_STATES = ("active", "invited", "deactivated")


USER_SORT = Sortable({
    "name": func.lower(User.display_name),
    "organisation": select(func.lower(Tenant.name)).where(Tenant.id == User.tenant_id).scalar_subquery(),
    # As the list names them: active, invited (no password yet), deactivated.
    "status": case((User.is_active.is_(False), 2), (User.password_hash.is_(None), 1), else_=0),
}, default="name", tiebreak=User.id)


def users_page(db: Session, q: str | None, state: str | None, paging: PageRequest,
               sort: Sort | None = None) -> Page[User]:
    statement = (sort or USER_SORT.default_sort()).apply(select(User))
    if q:
        statement = statement.where(contains(User.email, q) | contains(User.display_name, q))
    if state == "active":
        statement = statement.where(User.is_active.is_(True), User.password_hash.is_not(None))
    elif state == "invited":
        statement = statement.where(User.is_active.is_(True), User.password_hash.is_(None))
    elif state == "deactivated":
        statement = statement.where(User.is_active.is_(False))
    return read_page(db, statement, paging)


def tenants(db: Session) -> list[Tenant]:
    return list(db.scalars(select(Tenant).order_by(Tenant.path).limit(MAX_CHOICES)))


@dataclass
class GrantTargets:
    """Where an admin may place a grant for one user: within the user's organisation,
    plus devices shared with it (how an end customer's staff reach their devices)."""

    tenants: list[Tenant] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)


def grant_targets(db: Session, grantee_tenant: Tenant) -> GrantTargets:
    subtree = select(Tenant.id).where(path_within(Tenant.path, grantee_tenant.path))
    shared = select(DeviceShare.device_id).where(DeviceShare.tenant_id.in_(subtree))
    return GrantTargets(
        tenants=list(db.scalars(select(Tenant).where(Tenant.id.in_(subtree)).order_by(Tenant.path).limit(MAX_CHOICES))),
        sites=list(db.scalars(select(Site).where(Site.tenant_id.in_(subtree)).order_by(Site.path).limit(MAX_CHOICES))),
        devices=list(db.scalars(
            select(Device).where(or_(Device.tenant_id.in_(subtree), Device.id.in_(shared)))
            .order_by(Device.name, Device.id).limit(MAX_CHOICES)
        )),
    )


def invitation_sites(db: Session) -> list[tuple[Site, str]]:
    """Sites an initial role can be granted on, each with its owner's tenant path (to match the chosen tenant)."""
    rows = db.execute(select(Site, Tenant.path).join(Tenant, Tenant.id == Site.tenant_id).order_by(Site.path).limit(MAX_CHOICES))
    return [(site, path) for site, path in rows.all()]


# --- customers and sharing ---------------------------------------------------------------------


@dataclass
class CustomerRow:
    tenant: Tenant
    parent_name: str
    shared: list[Device]
    shareable: list[Device]


def customers(read_db: Session, device_db: Session | None, write_db: Session | None) -> list[CustomerRow]:
    """Customers and end customers below the principal, with the devices shared with each end customer.

    `device_db` reads shares (None without device.read); `write_db` lists what may still be shared
    (None without device.write).
    """
    rows = list(read_db.scalars(
        select(Tenant).where(Tenant.kind.in_([TenantKind.customer, TenantKind.end_customer])).order_by(Tenant.path)
    ))
    parents = names_by_id(read_db, Tenant, (t.parent_id for t in rows))
    end_ids = [t.id for t in rows if t.kind == TenantKind.end_customer]
    shared: dict[int, list[Device]] = {tenant_id: [] for tenant_id in end_ids}
    if device_db is not None and end_ids:
        for share, device in device_db.execute(
            select(DeviceShare, Device).join(Device, Device.id == DeviceShare.device_id)
            .where(DeviceShare.tenant_id.in_(end_ids)).order_by(Device.name)
        ).all():
            shared[share.tenant_id].append(device)
    result = []
    for tenant in rows:
        shareable: list[Device] = []
        if write_db is not None and tenant.kind == TenantKind.end_customer and tenant.parent_id is not None:
            taken = {device.id for device in shared.get(tenant.id, [])}
            # An end customer is served from its parent's devices: those are the ones to share.
            shareable = [
                device for device in write_db.scalars(
                    select(Device).where(Device.tenant_id == tenant.parent_id).order_by(Device.name).limit(MAX_CHOICES)
                ) if device.id not in taken
            ]
        result.append(CustomerRow(tenant, parents.get(tenant.parent_id or 0, ""), shared.get(tenant.id, []), shareable))
    return result


def possible_parents(db: Session) -> list[Tenant]:
    """Tenants a new customer or end customer can be created below."""
    kinds = [kind.value for kind in ALLOWED_CHILD_KIND if kind != TenantKind.root]
    return list(db.scalars(select(Tenant).where(Tenant.kind.in_(kinds)).order_by(Tenant.path).limit(MAX_CHOICES)))


# --- API tokens --------------------------------------------------------------------------------


def own_tokens(db: Session) -> list[ApiToken]:
    # The session's scope carries the user id; ApiToken is personal, so only their own rows come back.
    return list(db.scalars(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())))


def token_state(token: ApiToken, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


# --- licenses ----------------------------------------------------------------------------------


@dataclass
class LicenseRow:
    license: License
    device: Device
    status: LicenseStatus
    expiring_soon: bool
    history: list[LicenseChange]


@dataclass
class LicenseCounts:
    active: int
    expiring: int
    expired: int


def license_counts(db: Session, today: date) -> LicenseCounts:
    def count(*conditions: Any) -> int:
        return db.scalar(select(func.count(License.id)).where(*conditions)) or 0

    return LicenseCounts(
        active=count(status_filter(LicenseStatus.active, today)),
        expiring=count(status_filter(LicenseStatus.active, today), License.ends_on <= today + timedelta(days=EXPIRING_DAYS)),
        expired=count(status_filter(LicenseStatus.expired, today)),
    )


LICENSE_SORT = Sortable({
    "device": func.lower(Device.name), "start": License.starts_on, "end": License.ends_on,
    "term": License.term_months, "auto_renew": License.auto_renew,
}, default="end", tiebreak=License.id)


def licenses_page(db: Session, status: str | None, q: str | None, paging: PageRequest,
                  sort: Sort | None = None) -> Page[LicenseRow]:
    today = clock.now().date()
    statement = (sort or LICENSE_SORT.default_sort()).apply(select(License).join(Device, Device.id == License.device_id))
    if status == "expiring":
        statement = statement.where(
            status_filter(LicenseStatus.active, today), License.ends_on <= today + timedelta(days=EXPIRING_DAYS)
        )
    elif status in (LicenseStatus.active, LicenseStatus.expired):
        statement = statement.where(status_filter(LicenseStatus(status), today))
    if q:
        statement = statement.where(contains(Device.name, q) | contains(Device.serial_number, q))
    found = read_page(db, statement, paging)
    licenses: list[License] = found.items
    devices = {d.id: d for d in db.scalars(select(Device).where(Device.id.in_([lic.device_id for lic in licenses])))}
    history: dict[int, list[LicenseChange]] = {lic.id: [] for lic in licenses}
    if licenses:
        for change in db.scalars(
            select(LicenseChange).where(LicenseChange.license_id.in_(list(history))).order_by(LicenseChange.id.desc())
        ):
            history[change.license_id].append(change)
    rows = []
    for lic in licenses:
        state = lic.status(today)
        soon = state == LicenseStatus.active and lic.ends_on <= today + timedelta(days=EXPIRING_DAYS)
        rows.append(LicenseRow(lic, devices[lic.device_id], state, soon, history[lic.id]))
    return found.model_copy(update={"items": rows})


# --- audit log ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    """The audit page's filters. All but `q` are the export API's own filters, so the export links match."""

    since: date | None = None
    until: date | None = None
    actor_user_id: int | None = None
    action: str | None = None
    outcome: str | None = None
    q: str | None = None

    def bounds(self, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        """Whole days in the viewer's time zone, as UTC instants; `until` includes its day."""
        since = datetime.combine(self.since, time(), zone).astimezone(UTC) if self.since else None
        until = datetime.combine(self.until + timedelta(days=1), time(), zone).astimezone(UTC) if self.until else None
        return since, until

    def api_params(self, zone: ZoneInfo) -> dict[str, str]:
        since, until = self.bounds(zone)
        values = {
            "actor_user_id": self.actor_user_id, "action": self.action, "outcome": self.outcome,
            "since": since.isoformat().replace("+00:00", "Z") if since else None,
            "until": until.isoformat().replace("+00:00", "Z") if until else None,
        }
        return {key: str(value) for key, value in values.items() if value not in (None, "")}

    def page_params(self) -> dict[str, str]:
        values = {
            "since": self.since, "until": self.until, "actor_user_id": self.actor_user_id,
            "action": self.action, "outcome": self.outcome, "q": self.q,
        }
        return {key: str(value) for key, value in values.items() if value not in (None, "")}


def audit_page(db: Session, query: AuditQuery, zone: ZoneInfo, paging: PageRequest) -> Page[AuditEntry]:
    since, until = query.bounds(zone)
    # The API's own filter, so the page and the export agree on what matches.
    statement = AuditFilters(
        actor_user_id=query.actor_user_id, action=query.action, outcome=query.outcome,  # type: ignore[arg-type]
        since=since, until=until,
    ).statement
    if query.q:
        statement = statement.where(
            contains(AuditEntry.actor, query.q) | contains(AuditEntry.action, query.q)
            | contains(AuditEntry.target_type, query.q) | contains(AuditEntry.target_id, query.q)
        )
    return read_page(db, statement, paging)


def audit_actions(db: Session) -> list[str]:
    return list(db.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action).limit(MAX_CHOICES)))


def audit_actors(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.display_name).limit(MAX_CHOICES)))


@contextmanager
def scoped(access: Access, permission: Permission) -> Iterator[Session | None]:
    """A session for a second permission, or None when the principal lacks it."""
    if not access.has(permission):
        yield None
        return
    with access.scoped_for(permission) as db:
        yield db
