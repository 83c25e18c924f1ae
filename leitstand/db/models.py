"""Every domain's models, imported once so the metadata (and Alembic) sees all tables."""

from leitstand.access.models import RoleGrant
from leitstand.audit.models import AuditEntry
from leitstand.auth.models import ApiToken, LoginSession, LoginThrottle, WebAuthnKey, YubiKey
from leitstand.db.base import Base
from leitstand.devices.models import Device, DeviceShare
from leitstand.devicetypes.models import DeviceType
from leitstand.licenses.models import License, LicenseChange
from leitstand.sites.models import Site, SiteGroup, SiteGroupMember
from leitstand.tenancy.models import Tenant
from leitstand.users.models import EmailToken, User

__all__ = [
    "ApiToken", "AuditEntry", "Base", "Device", "DeviceShare", "DeviceType", "EmailToken", "License",
    "LicenseChange", "LoginSession", "LoginThrottle", "RoleGrant", "Site", "SiteGroup", "SiteGroupMember",
    "Tenant", "User", "WebAuthnKey", "YubiKey",
]
