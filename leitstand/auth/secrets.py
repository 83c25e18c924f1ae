"""Hashing and encryption of the secrets Leitstand keeps.

- Passwords and device claim secrets: argon2id hashes (slow on purpose, they may be weak).
- Random bearer tokens (API tokens, session cookies, e-mail links): SHA-256, enough for
  256-bit random values, and fast to look up by hash.
- Second-factor secrets that must be read back (TOTP seeds, YubiKey AES keys):
  encrypted with a key derived from the installation's secret key.
- Recovery codes (about 50 bits, too few for a plain fast hash): HMAC-SHA256 under another key
  derived from the installation's secret key, over the owner's id and the code. A copy of the
  database alone cannot be searched offline, and the digest can still be looked up; whoever also
  holds the secret key can read the TOTP seeds anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher, Parameters, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

# argon2-cffi's defaults, named so tests can pin them (the suite itself hashes cheaply): argon2id,
# 64 MiB, 3 passes, 4 lanes, a random 16-byte salt per hash; above OWASP's argon2id minimum.
PASSWORD_HASHING: Parameters = profiles.RFC_9106_LOW_MEMORY
_hasher = PasswordHasher.from_parameters(PASSWORD_HASHING)
_decoy_hash: str | None = None


def use_cheap_hashing_for_tests() -> None:
    """Switch to argon2's cheapest parameters. Hashes stay real argon2id and verifiable;
    only the cost drops, so a test suite that creates hundreds of users runs in seconds."""
    global _hasher, _decoy_hash
    cheapest: Parameters = profiles.CHEAPEST
    _hasher = PasswordHasher.from_parameters(cheapest)
    _decoy_hash = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches the hash. Without a hash (an unknown account, a user who
    has not set a password, an unknown serial) the password is checked against a decoy hash
    with the same parameters, so that the answer takes as long and tells nothing."""
    try:
        return _hasher.verify(password_hash or _decoy(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def _decoy() -> str:
    global _decoy_hash
    if _decoy_hash is None:
        _decoy_hash = _hasher.hash(secrets.token_urlsafe(32))  # a password nobody knows
    return _decoy_hash


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SecretBox:
    """Symmetric encryption for stored second-factor secrets, and keyed digests of look-up secrets."""

    def __init__(self, installation_secret: str) -> None:
        key = hashlib.sha256(b"leitstand-secret-box:" + installation_secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._digest_key = hashlib.sha256(b"leitstand-keyed-digest:" + installation_secret.encode()).digest()

    def keyed_digest(self, owner: str, secret: str) -> str:
        """A digest of `secret` that only this installation can compute, different for each owner."""
        return hmac.new(self._digest_key, f"{owner}:{secret}".encode(), hashlib.sha256).hexdigest()

    def seal(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def open(self, sealed: bytes, max_age_seconds: int | None = None) -> bytes:
        try:
            return self._fernet.decrypt(sealed, ttl=max_age_seconds)
        except InvalidToken as error:
            raise ValueError("sealed value is forged, expired or from another installation") from error
