"""Claiming and decommissioning as the fleet sees them: the device and its licence.

leitstand.devices.claiming does the device's side (binding, credentials); the licence
starts and stops through leitstand.licenses.service.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from leitstand.audit.recorder import record
from leitstand.config import Settings
from leitstand.devices.claiming import bind_to_claimer, mark_decommissioned
from leitstand.devices.models import Device, DeviceCredential
from leitstand.licenses.models import License
from leitstand.licenses.service import start_license, stop_renewal


@dataclass
class Claimed:
    device: Device
    credential: DeviceCredential
    secret: str
    license: License


def claim_device(
    db: Session, settings: Settings, *, serial_number: str, claim_secret: str, tenant_id: int, site_id: int,
    claimer_tenant_id: int, name: str | None = None,
) -> Claimed:
    """Bind an unclaimed device to a tenant and site, issue its credentials, start its license
    (see `bind_to_claimer` for the rules a claim must pass).

    The caller commits and then calls `announce_credentials`.
    """
    bound = bind_to_claimer(
        db, settings, serial_number=serial_number, claim_secret=claim_secret, tenant_id=tenant_id, site_id=site_id,
        claimer_tenant_id=claimer_tenant_id, name=name,
    )
    device = bound.device
    license_ = start_license(db, device, settings.license_term_months, bound.claimed_at.date())
    record(db, "device.claim", tenant_id=device.tenant_id, target_type="devices", target_id=device.id,
           details={"serial_number": device.serial_number, "site_id": device.site_id})
    db.flush()
    return Claimed(device=device, credential=bound.credential, secret=bound.secret, license=license_)


def decommission(db: Session, device: Device) -> bool:
    """Take a device out of service: credentials revoked, decommissioned_at set, and its
    license no longer renews (it runs to its end date). Returns False if it already was."""
    if not mark_decommissioned(db, device):
        return False
    stop_renewal(db, device, "decommissioned")
    return True
