"""The permissions, one name for each thing a grant may allow.

A permission is `<resource>.<action>`. Roles (leitstand.access.roles) are sets of them; every
route and page names the one it requires. The names are plain data with no rule behind them,
so they sit below every floor that names one, down to tenancy's and the audit trail's APIs.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    tenant_read = "tenant.read"
    tenant_write = "tenant.write"
    user_read = "user.read"
    user_write = "user.write"
    grant_read = "grant.read"
    grant_write = "grant.write"
    site_read = "site.read"
    site_write = "site.write"
    devicetype_read = "devicetype.read"
    device_read = "device.read"
    device_write = "device.write"
    device_command = "device.command"
    license_read = "license.read"
    license_write = "license.write"
    audit_read = "audit.read"
    own_tokens = "token.own"
    alarm_read = "alarm.read"
    alarm_write = "alarm.write"  # acknowledge, clear, comment, assign
    alarm_rule_write = "alarm_rule.write"
    notification_write = "notification.write"  # routing rules and webhooks of a tenant
    maintenance_read = "maintenance.read"
    maintenance_write = "maintenance.write"  # plans and inspection-book entries
    ticket_read = "ticket.read"
    ticket_write = "ticket.write"
    support_access_write = "support_access.write"  # release codes for platform support
    heating_read = "heating.read"  # plans, assignments, modes, effective targets
    heating_plan = "heating.plan"  # manage plans, assignments and modes
    heating_room_control = "heating.room_control"  # residents: a MANUAL target for the rooms they hold a role on
