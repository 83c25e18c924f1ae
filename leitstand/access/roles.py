"""Roles, declared as data.

A role is a named set of permissions (leitstand.permissions).
A role is granted to a user on a scope: a tenant subtree, a site (with what lies
below it) or a single device. What a user may do is the union of their grants.
Each role is made for the people of certain kinds of tenant (a partner admin works
for a partner); it is granted only on targets of those kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from leitstand.permissions import Permission
from leitstand.tenancy.models import TenantKind


class ScopeKind(StrEnum):
    tenant = "tenant"
    site = "site"
    device = "device"


@dataclass(frozen=True)
class Role:
    key: str
    label_en: str
    label_de: str
    permissions: frozenset[Permission]
    # The scopes a role makes sense on; a platform admin on one device is nonsense.
    grantable_on: frozenset[ScopeKind]
    # The kinds of tenant a grant's target (the tenant, or the site's or device's tenant) may be of.
    tenant_kinds: frozenset[TenantKind]
    # A desk role's permissions reach only what is handed over to the grantee's own tenant
    # (support tickets), never the tenants below it: a support desk reads customers' data
    # only with a release code (leitstand.support.access).
    desk_only: bool = False


P = Permission
ALL = frozenset(Permission)
READ_ALL = frozenset(p for p in Permission if p.value.endswith(".read")) - {P.audit_read, P.grant_read}
ANY_SCOPE = frozenset(ScopeKind)
TENANT_ONLY = frozenset({ScopeKind.tenant})
K = TenantKind
ROOT, PARTNER, CUSTOMER = frozenset({K.root}), frozenset({K.partner}), frozenset({K.customer})
ANY_TENANT = frozenset(TenantKind)

ROLES: dict[str, Role] = {
    role.key: role
    for role in (
        Role("platform_admin", "Platform admin", "Plattform-Administration", ALL, TENANT_ONLY, ROOT),
        Role("partner_admin", "Partner admin", "Partner-Administration", ALL, TENANT_ONLY, PARTNER),
        Role(
            "partner_technician",
            "Partner technician",
            "Partner-Techniker",
            READ_ALL | {P.site_write, P.device_write, P.device_command, P.own_tokens, P.alarm_write,
                        P.maintenance_write, P.ticket_write, P.heating_plan, P.heating_room_control},
            TENANT_ONLY,
            PARTNER,
        ),
        Role(
            "operator",
            "Operator",
            "Betreiber",
            ALL - {P.license_write},
            frozenset({ScopeKind.tenant, ScopeKind.site}),
            CUSTOMER,
        ),
        Role(
            "operator_technician",
            "Operator technician",
            "Betreiber-Techniker",
            frozenset({P.site_read, P.devicetype_read, P.device_read, P.device_command, P.license_read, P.own_tokens,
                       P.alarm_read, P.alarm_write, P.maintenance_read, P.maintenance_write, P.ticket_read,
                       P.ticket_write, P.heating_read, P.heating_room_control}),
            frozenset({ScopeKind.tenant, ScopeKind.site}),
            CUSTOMER,
        ),
        Role(
            "end_customer",
            "End customer",
            "Endkunde",
            frozenset({P.site_read, P.devicetype_read, P.device_read, P.device_command, P.own_tokens,
                       P.alarm_read, P.ticket_read, P.ticket_write, P.heating_read, P.heating_room_control}),
            ANY_SCOPE,
            # A customer's own device, or one shared with an end customer, is a customer's device.
            frozenset({K.customer, K.end_customer}),
        ),
        Role("read_only", "Read-only", "Nur lesen", READ_ALL | {P.own_tokens}, ANY_SCOPE, ANY_TENANT),
        # The provider's support desk: handles the tickets handed over to the platform and, only with a
        # release code a customer admin gives out (leitstand.support.access), reads that customer's data.
        Role("platform_support", "Platform support", "Plattform-Support", frozenset({P.own_tokens, P.ticket_read,
             P.ticket_write}), TENANT_ONLY, ROOT, desk_only=True),
        Role(
            "integration",
            "Integration",
            "Integration",
            READ_ALL | {P.site_write, P.device_write, P.device_command, P.own_tokens, P.heating_plan},
            ANY_SCOPE,
            ANY_TENANT,
        ),
    )
}

# The platform admin is the one role that reaches every tenant; it may only be
# granted on the root tenant.
PLATFORM_ROLE = "platform_admin"
# Platform support belongs on the root tenant too; only a grant there lets its holder redeem release codes.
PLATFORM_SUPPORT_ROLE = "platform_support"
ROOT_ONLY_ROLES = frozenset(key for key, role in ROLES.items() if role.tenant_kinds == ROOT)
