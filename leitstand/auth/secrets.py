"""Hashing and encryption of the secrets Leitstand keeps.

- Passwords and device claim secrets: argon2id hashes (slow on purpose, they may be weak).
- Random bearer tokens (API tokens, session cookies, e-mail links): SHA-256, enough for
  256-bit random values, and fast to look up by hash.
- Second-factor secrets that must be read back (TOTP seeds, YubiKey AES keys):
  encrypted with a key derived from the installation's secret key.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from argon2 import PasswordHasher, Parameters, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

_hasher = PasswordHasher()


def use_cheap_hashing_for_tests() -> None:
    """Switch to argon2's cheapest parameters. Hashes stay real argon2id and verifiable;
    only the cost drops, so a test suite that creates hundreds of users runs in seconds."""
    global _hasher
    cheapest: Parameters = profiles.CHEAPEST
    _hasher = PasswordHasher.from_parameters(cheapest)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Spend the same time as a real check, so response times don't reveal unknown accounts.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SecretBox:
    """Symmetric encryption for stored second-factor secrets."""

    def __init__(self, installation_secret: str) -> None:
        key = hashlib.sha256(b"leitstand-secret-box:" + installation_secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def open(self, sealed: bytes, max_age_seconds: int | None = None) -> bytes:
        try:
            return self._fernet.decrypt(sealed, ttl=max_age_seconds)
        except InvalidToken as error:
            raise ValueError("sealed value is forged, expired or from another installation") from error
