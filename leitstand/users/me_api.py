"""The signed-in user's own account: profile, password, second factors, API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import Field
from sqlalchemy import select

from leitstand.access.roles import Permission
from leitstand.auth import second_factor
from leitstand.auth import throttle
from leitstand.auth.api import WebAuthnOptions, refused_for_throttle, secret_box
from leitstand.auth.models import ApiToken, LoginSession, WebAuthnKey, YubiKey
from leitstand.auth.secrets import hash_password, new_token, token_digest, verify_password
from leitstand.clock import clock
from leitstand.users.models import User
from leitstand.web.crud import get_visible
from leitstand.web.deps import SelfService
from leitstand.web.errors import Problem, invalid
from leitstand.web.types import Input, Language, Name, NewPassword, ObjectId, Public, Secret

router = APIRouter(prefix="/me", tags=["me"])
HEX_12 = r"^[0-9a-fA-F]{12}$"
HEX_32 = r"^[0-9a-fA-F]{32}$"
TOKEN_PREFIX = "lst_"


class Me(Public):
    id: int
    tenant_id: int
    email: str
    display_name: str
    language: str
    permissions: list[str]
    second_factors: list[str]
    needs_second_factor_enrolment: bool
    csrf_token: str | None


class MeUpdate(Input):
    display_name: Name | None = None
    language: Language | None = None


class PasswordChange(Input):
    current_password: Secret
    new_password: NewPassword


class TotpSetup(Public):
    secret: str
    provisioning_uri: str


class TotpConfirm(Input):
    secret: Annotated[str, Field(pattern=r"^[A-Z2-7]{16,64}$")]
    code: Annotated[str, Field(pattern=r"^\s*\d{6}\s*$")]


class KeyPublic(Public):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


class YubiKeyEnrol(Input):
    name: Name
    private_id: Annotated[str, Field(pattern=HEX_12, description="The key's private identity, 6 bytes as hex.")]
    aes_key: Annotated[str, Field(pattern=HEX_32, description="The key's AES secret, 16 bytes as hex.")]
    otp: Annotated[str, Field(min_length=32, max_length=64, description="One fresh OTP from the key.")]


class WebAuthnEnrol(Input):
    name: Name
    credential: dict[str, Any]
    state: Annotated[str, Field(max_length=4000)]


class TokenCreate(Input):
    name: Name
    scopes: list[Permission] = Field(min_length=1, max_length=len(Permission))
    expires_in_days: Annotated[int | None, Field(ge=1, le=3650)] = 365


class TokenPublic(Public):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="Shown once; only its hash is stored.")


def _me(access: SelfService) -> User:
    user = access.db.get(User, access.principal.user_id)
    assert user is not None
    return user


@router.get("", response_model=Me)
def get_me(access: SelfService) -> Me:
    user = _me(access)
    return Me(
        id=user.id, tenant_id=user.tenant_id, email=user.email, display_name=user.display_name, language=user.language,
        permissions=sorted(p.value for p in access.principal.permissions),
        second_factors=second_factor.methods_of(access.db, user),
        needs_second_factor_enrolment=access.principal.needs_second_factor_enrollment,
        csrf_token=access.principal.csrf_token,
    )


@router.patch("", response_model=Me)
def update_me(body: MeUpdate, access: SelfService) -> Me:
    user = _me(access)
    for field, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(user, field, value)
    access.db.commit()
    return get_me(access)


@router.post("/password", status_code=204)
def change_password(body: PasswordChange, access: SelfService) -> Response:
    """Change the password. Other browser sessions of the account end; this one stays."""
    user = _me(access)
    # Wrong current passwords count like failed logins, so a borrowed session cannot guess freely.
    refusal = throttle.check(access.db, access.settings, user.email)
    if refusal is not None:
        raise refused_for_throttle(refusal)
    if not verify_password(user.password_hash, body.current_password):
        throttle.record_failure(access.db, access.settings, user.email)
        access.db.commit()
        raise Problem(403, "bad-credentials", "Wrong password", "The current password is wrong.")
    user.password_hash = hash_password(body.new_password)
    for login in access.db.scalars(select(LoginSession).where(LoginSession.id != access.principal.session_id)):
        access.db.delete(login)
    throttle.record_success(access.db, user.email)
    access.db.commit()
    return Response(status_code=204)


@router.post("/totp/setup", response_model=TotpSetup)
def totp_setup(access: SelfService) -> TotpSetup:
    """A fresh secret to scan into an authenticator app. Nothing is stored until confirmed."""
    secret, uri = second_factor.new_totp_secret(_me(access))
    return TotpSetup(secret=secret, provisioning_uri=uri)


@router.post("/totp", status_code=204)
def totp_confirm(body: TotpConfirm, access: SelfService, request: Request) -> Response:
    try:
        second_factor.enrol_totp(_me(access), secret_box(request), body.secret, body.code)
    except second_factor.SecondFactorRefused as error:
        raise invalid(str(error)) from error
    access.db.commit()
    return Response(status_code=204)


@router.delete("/totp", status_code=204)
def totp_remove(access: SelfService) -> Response:
    user = _me(access)
    user.totp_secret_encrypted, user.totp_last_step = None, 0
    access.db.commit()
    return Response(status_code=204)


@router.get("/yubikeys", response_model=list[KeyPublic])
def list_yubikeys(access: SelfService) -> list[YubiKey]:
    return list(access.db.scalars(select(YubiKey).order_by(YubiKey.id)))


@router.post("/yubikeys", response_model=KeyPublic, status_code=201)
def add_yubikey(body: YubiKeyEnrol, access: SelfService, request: Request) -> YubiKey:
    secret = second_factor.YubiKeySecret(bytes.fromhex(body.private_id), bytes.fromhex(body.aes_key))
    try:
        key = second_factor.enrol_yubikey(access.db, _me(access), secret_box(request), body.name, secret, body.otp)
    except second_factor.SecondFactorRefused as error:
        raise invalid(str(error)) from error
    access.db.commit()
    return key


@router.delete("/yubikeys/{key_id}", status_code=204)
def remove_yubikey(key_id: ObjectId, access: SelfService) -> Response:
    access.db.delete(get_visible(access.db, YubiKey, key_id, "YubiKey"))
    access.db.commit()
    return Response(status_code=204)


@router.get("/webauthn", response_model=list[KeyPublic])
def list_security_keys(access: SelfService) -> list[WebAuthnKey]:
    return list(access.db.scalars(select(WebAuthnKey).order_by(WebAuthnKey.id)))


@router.post("/webauthn/options", response_model=WebAuthnOptions)
def security_key_options(access: SelfService, request: Request) -> WebAuthnOptions:
    options, state = second_factor.webauthn_registration(access.db, _me(access), secret_box(request), access.settings)
    return WebAuthnOptions(options=options, state=state)


@router.post("/webauthn", response_model=KeyPublic, status_code=201)
def add_security_key(body: WebAuthnEnrol, access: SelfService, request: Request) -> WebAuthnKey:
    try:
        key = second_factor.enrol_webauthn(
            access.db, _me(access), secret_box(request), access.settings, body.name, body.credential, body.state
        )
    except second_factor.SecondFactorRefused as error:
        raise invalid(str(error)) from error
    access.db.commit()
    return key


@router.delete("/webauthn/{key_id}", status_code=204)
def remove_security_key(key_id: ObjectId, access: SelfService) -> Response:
    access.db.delete(get_visible(access.db, WebAuthnKey, key_id, "security key"))
    access.db.commit()
    return Response(status_code=204)


@router.get("/tokens", response_model=list[TokenPublic])
def list_tokens(access: SelfService) -> list[ApiToken]:
    return list(access.db.scalars(select(ApiToken).order_by(ApiToken.id)))


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, access: SelfService) -> TokenCreated:
    """An API token for an integration. It can do at most what you can, limited to its scopes."""
    if access.principal.token_scopes is not None:
        raise Problem(403, "forbidden", "Forbidden", "API tokens cannot create further tokens; log in as the user.")
    if access.principal.needs_second_factor_enrollment:
        # A token is not checked for a second factor, so it must not be a way around the tenant's requirement.
        raise Problem(
            403, "second-factor-required", "Second factor required", "Enrol a second factor before creating API tokens."
        )
    missing = [scope.value for scope in body.scopes if not access.principal.has(scope)]
    if missing:
        raise invalid(f"You do not hold these permissions yourself: {', '.join(missing)}.")
    raw = new_token(TOKEN_PREFIX)
    token = ApiToken(
        user_id=access.principal.user_id, name=body.name, prefix=raw[:10], token_hash=token_digest(raw),
        scopes=sorted({scope.value for scope in body.scopes}),
        expires_at=clock.now() + timedelta(days=body.expires_in_days) if body.expires_in_days else None,
    )
    access.db.add(token)
    access.db.commit()
    return TokenCreated.model_validate({**TokenPublic.model_validate(token).model_dump(), "token": raw})


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: ObjectId, access: SelfService) -> Response:
    token = get_visible(access.db, ApiToken, token_id, "API token")
    token.revoked_at = token.revoked_at or clock.now()
    access.db.commit()
    return Response(status_code=204)
