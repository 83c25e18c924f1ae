"""Device records: creating them with a claim secret, and rotating that secret."""

from __future__ import annotations

import secrets

from leitstand.auth.secrets import hash_password, verify_password
from leitstand.devices.models import Device


def new_claim_secret() -> str:
    # 20 URL-safe characters: short enough for a printed label, about 120 bits.
    return secrets.token_urlsafe(15)


def set_claim_secret(device: Device, secret: str | None = None) -> str:
    secret = secret or new_claim_secret()
    device.claim_secret_hash = hash_password(secret)
    return secret


def claim_secret_matches(device: Device, secret: str) -> bool:
    return verify_password(device.claim_secret_hash, secret)
