"""Device records: creating them with a claim secret, and rotating that secret."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.access.rules import within_tenant
from leitstand.auth.secrets import hash_password, verify_password
from leitstand.devices.models import Device, DeviceShare
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant


def new_claim_secret() -> str:
    # 20 URL-safe characters: short enough for a printed label, about 120 bits.
    return secrets.token_urlsafe(15)


def set_claim_secret(device: Device, secret: str | None = None) -> str:
    secret = secret or new_claim_secret()
    device.claim_secret_hash = hash_password(secret)
    return secret


def claim_secret_matches(device: Device, secret: str) -> bool:
    return verify_password(device.claim_secret_hash, secret)


def site_serves_tenant(db: Session, site: Site, tenant: Tenant) -> bool:
    """A device stands at a site of its own tenant or of a tenant above it
    (an end customer's thermostat in the landlord's building), never at a stranger's."""
    # The site's tenant may lie above what the caller can see, so compare paths, not rows.
    site_tenant_path = db.scalar(select(Tenant.__table__.c.path).where(Tenant.__table__.c.id == site.tenant_id))
    return within_tenant(tenant.path, site_tenant_path)


def move_to_tenant(db: Session, device: Device, tenant: Tenant) -> None:
    """Hand a device to another tenant: its shares were the old owner's to give, so they end."""
    device.tenant_id = tenant.id
    for share in db.scalars(select(DeviceShare).where(DeviceShare.device_id == device.id)):
        db.delete(share)
