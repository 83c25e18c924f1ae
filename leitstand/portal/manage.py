"""Portal pages: management — users and invitations, role grants, customers and sharing,
API tokens, licenses and the audit log.

Each page reads through a session scoped by its own permission; every change is made
by the browser through the JSON API (see frontend/src/manage.js), so nothing here
writes. What a user may not do is left out of the page, not merely disabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BeforeValidator, Field
from sqlalchemy import select

from leitstand import formats, i18n
from leitstand.access.roles import ScopeKind
from leitstand.accounts.models import User
from leitstand.audit.api import Token as AuditToken
from leitstand.auth.principal import ACCOUNT_SCOPE
from leitstand.clock import clock
from leitstand.permissions import Permission
from leitstand.portal import bulk
from leitstand.portal import manage_queries as queries
from leitstand.portal.listing import MAX_EXPORT_ROWS, CsvColumn, csv_download, export_link
from leitstand.portal.listing import msgid as _
from leitstand.portal.pages import page, render
from leitstand.devices.models import Device
from leitstand.licenses.models import License
from leitstand.licenses.service import renewed_end
from leitstand.tenancy.models import Tenant
from leitstand.web.crud import get_visible
from leitstand.web.deps import Access
from leitstand.web.types import MAX_ID, ObjectId, Offset, PageRequest, SearchText

router = APIRouter(prefix="/manage")

# Filter forms send their empty fields too ("?outcome=&since="); an empty field means "any".
_blank_is_any = BeforeValidator(lambda value: None if value == "" else value)
AnyId = Annotated[Annotated[int, Field(ge=1, le=MAX_ID)] | None, _blank_is_any, Query()]
AnyDate = Annotated[date | None, _blank_is_any, Query()]
UserState = Annotated[Literal["active", "invited", "deactivated"] | None, _blank_is_any, Query()]
LicenseFilter = Annotated[Literal["active", "expiring", "expired"] | None, _blank_is_any, Query()]
Outcome = Annotated[Literal["success", "failure"] | None, _blank_is_any, Query()]


@dataclass(frozen=True)
class Section:
    href: str
    title: str  # English message id
    description: str  # English message id
    permission: Permission


SECTIONS: tuple[Section, ...] = (
    Section("/manage/users", "Users and invitations", "Invite colleagues, grant roles, deactivate accounts.", Permission.user_read),
    Section("/manage/customers", "End customers and sharing", "Your customers and end customers, and the devices shared with them.", Permission.tenant_read),
    Section("/manage/tokens", "API tokens", "Your own tokens for integrations such as an ERP system.", Permission.own_tokens),
    Section("/manage/licenses", "Licenses", "Status, end dates and automatic renewal of device licenses.", Permission.license_read),
    Section("/manage/audit", "Audit log", "Who changed what and when, with filters and export.", Permission.audit_read),
    Section("/notifications", "Notifications", "Push on this device, muted sites; routing rules and webhooks.", Permission.own_tokens),
)


def _language(request: Request, access: Access) -> str:
    return i18n.negotiate(request, access.principal.language)


def _formatters(access: Access, language: str) -> dict[str, Any]:
    """Dates and times as the viewer reads them: in their organisation's time zone and their language's order."""
    zone = queries.time_zone_of(access).key

    def when(moment: datetime | None) -> str:
        return formats.format_moment(moment, zone, language, empty="—")

    def day(value: date | None) -> str:
        return formats.format_day(value, language, empty="—")

    return {"when": when, "day": day, "time_zone": zone}


def _render(request: Request, access: Access, template: str, context: dict[str, object]) -> HTMLResponse:
    language = _language(request, access)
    sections = [section for section in SECTIONS if access.has(section.permission)]
    return render(request, template, {"sections": sections, **_formatters(access, language), **context})


@router.get("", response_class=HTMLResponse)
def overview(request: Request, access: Annotated[Access, page(Permission.own_tokens)]) -> HTMLResponse:
    # Every role holds token.own, so everyone reaches the overview; the cards show what else they may use.
    return _render(request, access, "manage/index.html", {})


@router.get("/users", response_class=HTMLResponse)
def users(
    request: Request,
    access: Annotated[Access, page(Permission.user_read)],
    q: SearchText = None,
    state: UserState = None,
    offset: Offset = 0,
) -> HTMLResponse:
    language = _language(request, access)
    sort = queries.USER_SORT.chosen(request)
    found = queries.users_page(access.db, q, state, PageRequest(queries.PAGE_SIZE, offset), sort)
    people = found.items
    tenant_names = queries.names_by_id(access.db, Tenant, (user.tenant_id for user in people))
    with queries.scoped(access, Permission.grant_read) as grant_db:
        grants = queries.grants_of(grant_db, [user.id for user in people], language) if grant_db else {}
    with queries.scoped(access, Permission.user_write) as invite_db:
        invite_tenants = queries.tenants(invite_db) if invite_db else []
    invite_roles, invite_sites = [], []
    with queries.scoped(access, Permission.grant_write) as grant_write_db:
        if grant_write_db is not None:
            invite_roles = [
                role for role in queries.grantable_roles(access.principal, None)
                if role.grantable_on & {ScopeKind.tenant, ScopeKind.site}
            ]
            invite_sites = queries.invitation_sites(grant_write_db)
    return _render(request, access, "manage/users.html", {
        "users": people, "paging": found, "tenant_names": tenant_names, "grants": grants,
        "q": q or "", "state": state or "", "states": queries.USER_STATES,
        "invite_tenants": invite_tenants, "invite_roles": invite_roles, "invite_sites": invite_sites,
        "role_label": lambda role: queries.role_label(role, language),
        "sort": sort, "export_href": export_link(request, "/manage/users/export.csv"),
        "query": lambda **changes: _query_string({"q": q, "state": state, **sort.hidden_fields(), **changes}),
    })


def _user_status(user: User) -> str:
    if not user.is_active:
        return _("Deactivated")
    return _("Active") if user.has_password else _("Invited")


@router.get("/users/export.csv")
def users_export(
    request: Request,
    access: Annotated[Access, page(Permission.user_read)],
    q: SearchText = None,
    state: UserState = None,
) -> Response:
    """The user list as CSV: everyone its filters select (all pages), as the table shows them."""
    language = _language(request, access)
    gettext = i18n.translations(language).gettext
    people = queries.users_page(access.db, q, state, PageRequest(MAX_EXPORT_ROWS), queries.USER_SORT.chosen(request)).items
    tenant_names = queries.names_by_id(access.db, Tenant, (user.tenant_id for user in people))
    columns = [
        CsvColumn(_("Name"), lambda user: user.display_name),
        CsvColumn(_("E-mail"), lambda user: user.email),
        CsvColumn(_("Organisation"), lambda user: tenant_names.get(user.tenant_id, "")),
        CsvColumn(_("Status"), lambda user: gettext(_user_status(user))),
    ]
    with queries.scoped(access, Permission.grant_read) as grant_db:
        if grant_db is not None:
            grants = queries.grants_of(grant_db, [user.id for user in people], language)
            columns.append(CsvColumn(_("Roles"), lambda user: ", ".join(
                f"{grant.role_label} · {grant.target_name}" for grant in grants.get(user.id, []))))
        return csv_download(request, access, "users", _("Users"), columns, people)


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_grants(
    request: Request, user_id: ObjectId, access: Annotated[Access, page(Permission.grant_read)]
) -> HTMLResponse:
    language = _language(request, access)
    user = get_visible(access.db, User, user_id, "user")
    tenant = access.db.get(Tenant, user.tenant_id)
    grants = queries.grants_of(access.db, [user.id], language)[user.id]
    targets, roles = queries.GrantTargets(), []
    with queries.scoped(access, Permission.grant_write) as write_db:
        if write_db is not None and tenant is not None:
            targets = queries.grant_targets(write_db, tenant)
            roles = queries.grantable_roles(access.principal, tenant)
    return _render(request, access, "manage/user.html", {
        "user": user, "tenant": tenant, "grants": grants, "targets": targets, "roles": roles,
        "scope_kinds": list(ScopeKind), "is_self": user.id == access.principal.user_id,
        "role_label": lambda role: queries.role_label(role, language),
    })


@router.get("/customers", response_class=HTMLResponse)
def customers(request: Request, access: Annotated[Access, page(Permission.tenant_read)]) -> HTMLResponse:
    with (
        queries.scoped(access, Permission.device_read) as device_db,
        queries.scoped(access, Permission.device_write) as share_db,
        queries.scoped(access, Permission.tenant_write) as create_db,
    ):
        rows = queries.customers(access.db, device_db, share_db)
        parents = queries.possible_parents(create_db) if create_db else []
    return _render(request, access, "manage/customers.html", {"customers": rows, "parents": parents})


def _token_context(access: Access) -> dict[str, object]:
    now = clock.now()
    tokens = queries.own_tokens(access.db)
    return {"tokens": tokens, "state_of": lambda token: queries.token_state(token, now)}


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, access: Annotated[Access, page(Permission.own_tokens)]) -> HTMLResponse:
    return _render(request, access, "manage/tokens.html", {
        **_token_context(access),
        # Tokens are made from a login only: an API token may not mint further tokens.
        "can_create": access.principal.token_scopes is None,
        "scopes": sorted(access.principal.permissions, key=lambda permission: permission.value),
        "account_scope": ACCOUNT_SCOPE,
    })


@router.get("/tokens/list", response_class=HTMLResponse)
def token_list(request: Request, access: Annotated[Access, page(Permission.own_tokens)]) -> HTMLResponse:
    """The token table alone, re-fetched after a token is created or revoked."""
    return _render(request, access, "manage/_tokens_table.html", _token_context(access))


@router.get("/licenses", response_class=HTMLResponse)
def licenses(
    request: Request,
    access: Annotated[Access, page(Permission.license_read)],
    status: LicenseFilter = None,
    q: SearchText = None,
    offset: Offset = 0,
) -> HTMLResponse:
    sort = queries.LICENSE_SORT.chosen(request)
    found = queries.licenses_page(access.db, status, q, PageRequest(queries.PAGE_SIZE, offset), sort)
    return _render(request, access, "manage/licenses.html", {
        "licenses": found.items, "paging": found, "counts": queries.license_counts(access.db, clock.now().date()),
        "status": status or "", "q": q or "", "expiring_days": queries.EXPIRING_DAYS,
        "sort": sort, "export_href": export_link(request, "/manage/licenses/export.csv"),
        "query": lambda **changes: _query_string({"status": status, "q": q, **sort.hidden_fields(), **changes}),
    })


def _license_status(row: queries.LicenseRow) -> str:
    if row.expiring_soon:
        return _("Ending soon")
    return {"active": _("Active"), "expired": _("Expired")}.get(row.status, _("Not yet started"))


@router.get("/licenses/export.csv")
def licenses_export(
    request: Request,
    access: Annotated[Access, page(Permission.license_read)],
    status: LicenseFilter = None,
    q: SearchText = None,
) -> Response:
    """The license list as CSV: every license its filters select (all pages), as the table shows it."""
    language = _language(request, access)
    gettext = i18n.translations(language).gettext
    day = _formatters(access, language)["day"]
    rows = queries.licenses_page(access.db, status, q, PageRequest(MAX_EXPORT_ROWS), queries.LICENSE_SORT.chosen(request)).items
    columns = [
        CsvColumn(_("Device"), lambda row: row.device.name),
        CsvColumn(_("Serial number"), lambda row: row.device.serial_number),
        CsvColumn(_("Status"), lambda row: gettext(_license_status(row))),
        CsvColumn(_("Start"), lambda row: day(row.license.starts_on)),
        CsvColumn(_("End"), lambda row: day(row.license.ends_on)),
        CsvColumn(_("Term"), lambda row: gettext("%(months)s months") % {"months": row.license.term_months}),
        CsvColumn(_("Automatic renewal"), lambda row: gettext("Yes") if row.license.auto_renew else gettext("No")),
    ]
    return csv_download(request, access, "licenses", _("Licenses"), columns, rows)


LicenseRenewer = Annotated[Access, page(Permission.license_write)]


def _renewable(access: Access, license_ids: list[int]) -> list[tuple[License, Device]]:
    """The selected licences this user may renew, each with its device, in the order selected."""
    found = {licence.id: licence for licence in access.db.scalars(select(License).where(License.id.in_(license_ids)))}
    devices = {device.id: device for device in access.db.scalars(
        select(Device).where(Device.id.in_([licence.device_id for licence in found.values()])))}
    return [(found[key], devices[found[key].device_id]) for key in license_ids
            if key in found and found[key].device_id in devices]


@router.get("/licenses/renew", response_class=HTMLResponse)
def license_renewal_confirmation(
    request: Request, access: LicenseRenewer, license_ids: Annotated[list[int], bulk.selection("license")],
) -> HTMLResponse:
    """The confirmation step of a bulk renewal: how many licences, which, and their new end dates."""
    today = clock.now().date()
    chosen = _renewable(access, license_ids)
    return _render(request, access, "manage/license_renewal.html", {
        "chosen": [(licence, device, renewed_end(licence, today)) for licence, device in chosen],
        "missing": len(license_ids) - len(chosen),
    })


@router.post("/licenses/renew", response_class=HTMLResponse)
def renew_licenses(
    request: Request, access: LicenseRenewer, license_ids: Annotated[list[int], bulk.selection("license")],
) -> HTMLResponse:
    """Renew each selected licence on its own; one that is refused (or not this user's) is reported, not fatal."""
    language = _language(request, access)
    chosen = {licence.id: (licence, device) for licence, device in _renewable(access, license_ids)}
    outcomes = [
        bulk.renew_one(access.db, key, chosen[key][1].name, chosen[key][0], language) if key in chosen
        else bulk.Outcome(key, "", False, i18n.translations(language).gettext("No such license."))
        for key in license_ids
    ]
    return _render(request, access, "manage/_renewal_results.html", {"outcomes": outcomes})


@router.get("/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    access: Annotated[Access, page(Permission.audit_read)],
    since: AnyDate = None,
    until: AnyDate = None,
    actor_user_id: AnyId = None,
    action: AuditToken = None,
    outcome: Outcome = None,
    q: SearchText = None,
    offset: Offset = 0,
) -> HTMLResponse:
    zone = queries.time_zone_of(access)
    query = queries.AuditQuery(since, until, actor_user_id, action or None, outcome, q or None)
    found = queries.audit_page(access.db, query, zone, PageRequest(queries.PAGE_SIZE, offset))
    with queries.scoped(access, Permission.user_read) as user_db:
        actors = queries.audit_actors(user_db) if user_db else []
    export = query.api_params(zone)
    return _render(request, access, "manage/audit.html", {
        "entries": found.items, "paging": found, "filters": query, "actors": actors,
        "actions": queries.audit_actions(access.db),
        "export_csv": "/api/v1/audit/export?" + urlencode({**export, "format": "csv"}),
        "export_ndjson": "/api/v1/audit/export?" + urlencode({**export, "format": "ndjson"}),
        "query": lambda **changes: _query_string({**query.page_params(), **changes}),
    })


def _query_string(values: dict[str, object]) -> str:
    """A page's own query string with some values changed, for paging links."""
    kept = {key: value for key, value in values.items() if value not in (None, "", 0)}
    return "?" + urlencode(kept) if kept else "?"
