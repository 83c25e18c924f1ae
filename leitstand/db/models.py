"""Every domain's models, imported once so the metadata (and Alembic) sees all tables, and the
session factory that every process makes its sessions with."""

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import leitstand.alarms.models  # noqa: F401 - registers the domain's tables
import leitstand.dataexport.models  # noqa: F401
import leitstand.heating.models  # noqa: F401
import leitstand.maintenance.models  # noqa: F401
import leitstand.notifications.models  # noqa: F401
import leitstand.support.models  # noqa: F401

from leitstand.access.models import RoleGrant
from leitstand.accounts.models import EmailToken, User
from leitstand.audit.models import AuditEntry
from leitstand.auth.models import ApiToken, KnownBrowser, LoginSession, LoginThrottle, RecoveryCode, WebAuthnKey, YubiKey
from leitstand.db.base import Base
from leitstand.commands.models import Command
from leitstand.devices.models import Device, DeviceBinding, DeviceConnection, DeviceCredential, DeviceShare
from leitstand.devicetypes.models import DeviceType
from leitstand.listeners import carry_listeners
from leitstand.licenses.models import License, LicenseChange
from leitstand.sites.models import Site, SiteGroup, SiteGroupMember
from leitstand.state.models import DeviceEvent, DeviceState, IngestRejection
from leitstand.telemetry.models import TelemetryPoint, TelemetryRollup
from leitstand.tenancy.models import Tenant

__all__ = [
    "ApiToken", "AuditEntry", "Base", "Command", "Device", "DeviceBinding", "DeviceConnection", "DeviceCredential", "DeviceEvent", "DeviceShare",
    "DeviceState", "IngestRejection", "KnownBrowser", "TelemetryPoint", "TelemetryRollup", "DeviceType", "EmailToken", "License",
    "LicenseChange", "LoginSession", "LoginThrottle", "RecoveryCode", "RoleGrant", "Site", "SiteGroup", "SiteGroupMember",
    "Tenant", "User", "WebAuthnKey", "YubiKey", "make_session_factory",
]


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for this engine, with every model of the platform loaded.

    A flush sorts tables by their foreign keys, which fails if a referenced table's model
    was never imported (a CLI command that imports only the models it names itself).
    Every process makes its sessions here, beside the imports of every model, so none runs
    with half the registry.

    Each factory carries listeners of its own (leitstand.listeners): an app's or a process's
    components subscribe on the factory they were given, and hear only its sessions.
    """
    return carry_listeners(sessionmaker(engine, expire_on_commit=False))
