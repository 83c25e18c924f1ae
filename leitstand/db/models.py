"""Every domain's models, imported once so the metadata (and Alembic) sees all tables."""

import leitstand.alarms.models  # noqa: F401 - registers the domain's tables
import leitstand.dataexport.models  # noqa: F401
import leitstand.maintenance.models  # noqa: F401
import leitstand.notifications.models  # noqa: F401
import leitstand.support.models  # noqa: F401

from leitstand.access.models import RoleGrant
from leitstand.audit.models import AuditEntry
from leitstand.auth.models import ApiToken, KnownBrowser, LoginSession, LoginThrottle, RecoveryCode, WebAuthnKey, YubiKey
from leitstand.db.base import Base
from leitstand.commands.models import Command
from leitstand.devices.models import Device, DeviceBinding, DeviceConnection, DeviceCredential, DeviceShare
from leitstand.devicetypes.models import DeviceType
from leitstand.licenses.models import License, LicenseChange
from leitstand.sites.models import Site, SiteGroup, SiteGroupMember
from leitstand.state.models import DeviceEvent, DeviceState, IngestRejection
from leitstand.telemetry.models import TelemetryPoint, TelemetryRollup
from leitstand.tenancy.models import Tenant
from leitstand.users.models import EmailToken, User

__all__ = [
    "ApiToken", "AuditEntry", "Base", "Command", "Device", "DeviceBinding", "DeviceConnection", "DeviceCredential", "DeviceEvent", "DeviceShare",
    "DeviceState", "IngestRejection", "KnownBrowser", "TelemetryPoint", "TelemetryRollup", "DeviceType", "EmailToken", "License",
    "LicenseChange", "LoginSession", "LoginThrottle", "RecoveryCode", "RoleGrant", "Site", "SiteGroup", "SiteGroupMember",
    "Tenant", "User", "WebAuthnKey", "YubiKey",
]
