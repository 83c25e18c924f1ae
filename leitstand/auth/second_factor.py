"""Second factors: TOTP apps, WebAuthn security keys and YubiKeys in Yubico OTP mode.

Enrolment and verification live here; the HTTP routes in `users.login_api` and
`users.me_api` only translate. WebAuthn ceremonies are stateless on the server:
the challenge travels to the client sealed (encrypted, authenticated, valid for
five minutes) and comes back with the signed response.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyotp
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from leitstand.accounts.models import User
from leitstand.auth import webauthn_ceremony, yubico_otp
from leitstand.auth.models import RecoveryCode, WebAuthnKey, YubiKey
from leitstand.auth.secrets import SecretBox
from leitstand.i18n import Refusal
from leitstand.clock import clock
from leitstand.config import Settings

TOTP_ISSUER = "Leitstand"
CEREMONY_SECONDS = 300


class SecondFactorRefused(Refusal):
    """A code, OTP or key response did not verify. The message is safe to show."""


def has_second_factor(db: Session, user: User) -> bool:
    if user.has_totp:
        return True
    return bool(
        db.scalar(select(exists().where(WebAuthnKey.user_id == user.id)))
        or db.scalar(select(exists().where(YubiKey.user_id == user.id)))
    )


def methods_of(db: Session, user: User) -> list[str]:
    methods = ["totp"] if user.has_totp else []
    if db.scalar(select(exists().where(WebAuthnKey.user_id == user.id))):
        methods.append("webauthn")
    if db.scalar(select(exists().where(YubiKey.user_id == user.id))):
        methods.append("yubico_otp")
    return methods


def remove_every_factor(db: Session, user: User) -> dict[str, int]:
    """Take every second factor and the recovery codes off the account, for a user who lost the
    factor and has no code left; returns how many of each went. Only the operator does this, after
    proving who the user is (leitstand.users.service.reset_second_factors)."""
    removed = {"totp": int(user.has_totp)}
    user.totp_secret_encrypted, user.totp_last_step = None, 0
    # Row by row for the keys, so that the audit log records each one's removal.
    for label, model in (("security_keys", WebAuthnKey), ("yubikeys", YubiKey)):
        keys = list(db.scalars(select(model).where(model.user_id == user.id)))
        for key in keys:
            db.delete(key)
        removed[label] = len(keys)
    codes = db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    removed["recovery_codes"] = codes.rowcount  # type: ignore[attr-defined]
    return removed


# --- TOTP -------------------------------------------------------------------


def new_totp_secret(user: User) -> tuple[str, str]:
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
    return secret, uri


def _matching_step(secret: str, code: str) -> int | None:
    """The time step a code belongs to, allowing one step of clock drift either way."""
    totp = pyotp.TOTP(secret)
    now = clock.now()
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code.strip()):
            return step
    return None


def enrol_totp(user: User, box: SecretBox, secret: str, code: str) -> None:
    try:
        step = _matching_step(secret, code)
    except Exception as error:  # a malformed base32 secret
        raise SecondFactorRefused("The secret is not a valid TOTP secret.") from error
    if step is None:
        raise SecondFactorRefused("The code does not match the secret; check the phone's clock.")
    user.totp_secret_encrypted = box.seal(secret.encode())
    user.totp_last_step = step


def verify_totp(user: User, box: SecretBox, code: str) -> None:
    if user.totp_secret_encrypted is None:
        raise SecondFactorRefused("No authenticator app is set up.")
    step = _matching_step(box.open(user.totp_secret_encrypted).decode(), code)
    if step is None:
        raise SecondFactorRefused("The code is wrong or expired.")
    # A code may be used once: anything at or before the last accepted step is a replay.
    if step <= user.totp_last_step:
        raise SecondFactorRefused("This code was already used; wait for the next one.")
    user.totp_last_step = step


# --- Yubico OTP ---------------------------------------------------------------


@dataclass(frozen=True)
class YubiKeySecret:
    private_id: bytes
    aes_key: bytes

    def sealed(self, box: SecretBox) -> bytes:
        return box.seal(self.private_id + self.aes_key)

    @classmethod
    def unsealed(cls, box: SecretBox, sealed: bytes) -> YubiKeySecret:
        raw = box.open(sealed)
        return cls(private_id=raw[:6], aes_key=raw[6:])


def enrol_yubikey(db: Session, user: User, box: SecretBox, name: str, secret: YubiKeySecret, otp: str) -> YubiKey:
    """Register a key by its secrets plus one fresh OTP, which proves the secrets belong to it."""
    try:
        public_id = yubico_otp.public_id_of(otp)
        counter = yubico_otp.verify_yubico_otp(
            otp, public_id=public_id, private_id=secret.private_id, aes_key=secret.aes_key,
            last_counter=yubico_otp.NEVER_USED,
        )
    except ValueError as error:
        raise SecondFactorRefused("The OTP does not verify with these secrets.") from error
    key = YubiKey(
        user_id=user.id, name=name, public_id=public_id, secret_encrypted=secret.sealed(box),
        last_counter=counter, last_used_at=clock.now(),
    )
    db.add(key)
    return key


def verify_yubikey(db: Session, user: User, box: SecretBox, otp: str) -> YubiKey:
    try:
        public_id = yubico_otp.public_id_of(otp)
    except yubico_otp.YubicoOtpError as error:
        raise SecondFactorRefused("That is not a YubiKey OTP.") from error
    key = db.scalar(select(YubiKey).where(YubiKey.user_id == user.id, YubiKey.public_id == public_id))
    if key is None:
        raise SecondFactorRefused("This YubiKey is not registered to your account.")
    secret = YubiKeySecret.unsealed(box, key.secret_encrypted)
    try:
        key.last_counter = yubico_otp.verify_yubico_otp(
            otp, public_id=key.public_id, private_id=secret.private_id, aes_key=secret.aes_key,
            last_counter=key.last_counter,
        )
    except yubico_otp.YubicoOtpError as error:
        message = "This OTP was already used." if error.reason == "replayed" else "The OTP is not valid."
        raise SecondFactorRefused(message) from error
    key.last_used_at = clock.now()
    return key


# --- WebAuthn -----------------------------------------------------------------


def _seal_ceremony(box: SecretBox, purpose: str, user_id: int, challenge: bytes) -> str:
    payload = json.dumps({"purpose": purpose, "user": user_id, "challenge": challenge.hex()})
    return box.seal(payload.encode()).decode()


def _open_ceremony(box: SecretBox, purpose: str, user_id: int, state: str) -> bytes:
    try:
        payload = json.loads(box.open(state.encode(), max_age_seconds=CEREMONY_SECONDS))
    except (ValueError, UnicodeError) as error:
        raise SecondFactorRefused("The security-key request expired or was altered; start again.") from error
    if payload.get("purpose") != purpose or payload.get("user") != user_id:
        raise SecondFactorRefused("The security-key request belongs to another ceremony.")
    return bytes.fromhex(payload["challenge"])


def webauthn_registration(db: Session, user: User, box: SecretBox, settings: Settings) -> tuple[dict, str]:
    existing = list(db.scalars(select(WebAuthnKey.credential_id).where(WebAuthnKey.user_id == user.id)))
    options, challenge = webauthn_ceremony.registration_options(
        rp_id=settings.relying_party_id, rp_name=settings.webauthn_rp_name, user_id=str(user.id).encode(),
        user_name=user.email, user_display_name=user.display_name, exclude_credential_ids=existing,
    )
    return options, _seal_ceremony(box, "register", user.id, challenge)


def enrol_webauthn(
    db: Session, user: User, box: SecretBox, settings: Settings, name: str, credential: dict, state: str
) -> WebAuthnKey:
    challenge = _open_ceremony(box, "register", user.id, state)
    try:
        registered = webauthn_ceremony.verify_registration(
            credential=credential, expected_challenge=challenge, rp_id=settings.relying_party_id, origin=settings.origin
        )
    except webauthn_ceremony.WebAuthnError as error:
        raise SecondFactorRefused("The security key's response did not verify.") from error
    key = WebAuthnKey(
        user_id=user.id, name=name, credential_id=registered.credential_id,
        public_key=registered.public_key, sign_count=registered.sign_count,
    )
    db.add(key)
    return key


def webauthn_login_options(
    db: Session, user: User, box: SecretBox, settings: Settings, login_id: int, purpose: str = "login"
) -> tuple[dict, str]:
    """Options for the second step of one pending login (`login_id`), or with purpose "reauthenticate"
    for a re-authentication of that browser session; the state is valid for that one only."""
    keys = list(db.scalars(select(WebAuthnKey.credential_id).where(WebAuthnKey.user_id == user.id)))
    if not keys:
        raise SecondFactorRefused("No security key is registered to your account.")
    options, challenge = webauthn_ceremony.authentication_options(rp_id=settings.relying_party_id, allow_credential_ids=keys)
    # Bound to the pending login, so a captured response cannot complete another login. The
    # sign count cannot guarantee that: many authenticators (synced passkeys) always report 0.
    return options, _seal_ceremony(box, f"{purpose}:{login_id}", user.id, challenge)


def verify_webauthn(
    db: Session, user: User, box: SecretBox, settings: Settings, credential: dict, state: str, login_id: int,
    purpose: str = "login",
) -> WebAuthnKey:
    challenge = _open_ceremony(box, f"{purpose}:{login_id}", user.id, state)
    raw_id = credential.get("rawId") if isinstance(credential, dict) else None
    try:
        credential_id = webauthn_ceremony.base64url_to_bytes(raw_id) if isinstance(raw_id, str) else b""
    except Exception:
        credential_id = b""
    key = db.scalar(select(WebAuthnKey).where(WebAuthnKey.user_id == user.id, WebAuthnKey.credential_id == credential_id))
    if key is None:
        raise SecondFactorRefused("This security key is not registered to your account.")
    try:
        key.sign_count = webauthn_ceremony.verify_authentication(
            credential=credential, expected_challenge=challenge, rp_id=settings.relying_party_id,
            origin=settings.origin, public_key=key.public_key, sign_count=key.sign_count,
        )
    except webauthn_ceremony.WebAuthnError as error:
        raise SecondFactorRefused("The security key's signature did not verify.") from error
    key.last_used_at = clock.now()
    return key
