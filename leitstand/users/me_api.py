"""The signed-in user's own account: profile, browser sessions, password, second factors, API tokens.

Each route declares the part of the account it is about (leitstand.web.deps.account):
- API tokens reach the profile and the token list (and, in leitstand.notifications.api, push
  subscriptions) only with the `account` scope, and the password, the second factors and
  re-authentication never (403); a token cannot make tokens.
- Setting, replacing or removing the password or a second factor needs a fresh login or
  re-authentication (`POST /me/reauthenticate`: the password and, where the user has one, a
  second factor) within `reauthentication_minutes`; otherwise 403 `reauthentication-required`,
  whose `methods` name the second factors to offer.
- An authenticator app is replaced by removing it and setting up the new one: `POST /me/totp`
  refuses (409) while one is set up, so no request can swap it silently.
- Recovery codes (leitstand.auth.recovery_codes) are made like a second factor is changed: fresh,
  mailed, audited; a user without a second factor gets none (409).
- Every change of the password, a second factor or a token mails the user
  (leitstand.users.service.notify_account_change) and lands in the audit log with its actor.
- The open browser sessions are listed with their address and browser, and any other one, or all
  others, can be ended (`auth.session_ended` in the audit log); the own one ends by logging out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import Field
from sqlalchemy import select

from leitstand.accounts.models import User
from leitstand.audit.recorder import record
from leitstand.auth import recovery_codes, second_factor
from leitstand.auth import throttle
from leitstand.auth.models import ApiToken, LoginSession, WebAuthnKey, YubiKey
from leitstand.auth.password_policy import PasswordRefused
from leitstand.auth.principal import ACCOUNT_SCOPE, AccountScope
from leitstand.auth.secrets import new_token, token_digest, verify_password
from leitstand.clock import clock
from leitstand.db.stored_rows import presentable
from leitstand.json_numbers import JsonNumber
from leitstand.permissions import Permission
from leitstand.users.login_api import (LOGIN_THROTTLED, TOTP_CODE, WebAuthnAssertion, WebAuthnOptions, count_login_failure,
                                      refused_for_throttle, renew_session, secret_box)
from leitstand.users.service import AccountChange, notify_account_change, set_password
from leitstand.web.crud import get_visible
from leitstand.web.deps import Access, AccountArea, account, client_ip, session_ends_at
from leitstand.web.errors import Message, Problem, conflict, invalid, invalid_field
from leitstand.web.types import (UNCHANGED, Input, KeyName, Language, Name, NewPassword, ObjectId, Patch, Public,
                                 Secret)

router = APIRouter(prefix="/me", tags=["me"])
Profile = Annotated[Access, account(AccountArea.profile)]
Tokens = Annotated[Access, account(AccountArea.tokens)]
SignIn = Annotated[Access, account(AccountArea.sign_in)]
# Changes of the password and second factors: a browser session, freshly authenticated.
SignInChange = Annotated[Access, account(AccountArea.sign_in, fresh=True)]
HEX_12 = r"^[0-9a-fA-F]{12}$"
HEX_32 = r"^[0-9a-fA-F]{32}$"
# What /totp/setup hands out: base32 in whole blocks of 8, at least the 112 bits pyotp requires.
TOTP_SECRET = r"^(?:[A-Z2-7]{8}){3,8}$"
# 44 modhex characters; case and spaces are forgiven (caps lock, pasting), see leitstand.auth.yubico_otp.
YUBICO_OTP = r"^[ \t]*(?:[cbdefghijklnrtuvCBDEFGHIJKLNRTUV][ \t]*){44}$"
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


class MeUpdate(Patch):
    display_name: Name = UNCHANGED
    language: Language = UNCHANGED


class PasswordChange(Input):
    current_password: Secret
    new_password: NewPassword


class TotpSetup(Public):
    secret: str
    provisioning_uri: str


class TotpConfirm(Input):
    secret: Annotated[str, Field(pattern=TOTP_SECRET)]
    code: Annotated[str, Field(pattern=TOTP_CODE)]


class KeyPublic(Public):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


class YubiKeyEnrol(Input):
    name: KeyName
    private_id: Annotated[str, Field(pattern=HEX_12, description="The key's private identity, 6 bytes as hex.")]
    aes_key: Annotated[str, Field(pattern=HEX_32, description="The key's AES secret, 16 bytes as hex.")]
    otp: Annotated[str, Field(max_length=64, pattern=YUBICO_OTP, description="One fresh OTP from the key.")]


class WebAuthnEnrol(Input):
    name: KeyName
    credential: dict[str, Any]
    state: Annotated[str, Field(max_length=4000)]


class RecoveryCodesPublic(Public):
    remaining: int = Field(description="Unused codes of the current set.")
    created_at: datetime | None = Field(description="When the current set was made; null if none was.")


class RecoveryCodesCreated(RecoveryCodesPublic):
    codes: list[str] = Field(description="Shown once; only keyed digests are stored. Each code completes one login "
                                         "in place of a second factor (POST /api/v1/auth/login/recovery-code).")


class TokenCreate(Input):
    name: KeyName
    scopes: list[Permission | AccountScope] = Field(min_length=1, max_length=len(Permission) + 1, description=(
        "Permissions the token may use (each one you hold), and `account` for your own account under /me: "
        "profile, API tokens, push subscriptions. The password and second factors are never reachable with a token."))
    expires_in_days: Annotated[int, Field(ge=1, le=3650), JsonNumber] | None = 365


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


class Reauthentication(Input):
    """The password, and one second factor if the user has any."""

    password: Secret
    totp_code: Annotated[str, Field(pattern=TOTP_CODE)] | None = None
    yubico_otp: Annotated[str, Field(max_length=64, pattern=YUBICO_OTP)] | None = None
    webauthn: WebAuthnAssertion | None = Field(None, description="From POST /me/reauthenticate/webauthn-options.")


class Reauthenticated(Public):
    csrf_token: str = Field(description="The session's new CSRF token (the cookie is renewed too).")
    fresh_until: datetime


class SessionPublic(Public):
    ends_at: datetime = Field(description="When the session ends unless it is used before (idle timeout or absolute limit).")
    seconds_left: int
    expires_at: datetime = Field(description="When the session ends at the latest, used or not.")
    idle_minutes: int
    fresh_until: datetime | None = Field(description="Until when password and second factors may be changed "
                                                     "without a re-authentication.")


def _me(access: Access) -> User:
    user = access.db.get(User, access.principal.user_id)
    assert user is not None
    return user


@router.get("", response_model=Me)
def get_me(access: Profile) -> Me:
    user = _me(access)
    return Me(
        id=user.id, tenant_id=user.tenant_id, email=user.email, display_name=user.display_name, language=user.language,
        permissions=sorted(p.value for p in access.principal.permissions),
        second_factors=second_factor.methods_of(access.db, user),
        needs_second_factor_enrolment=access.principal.needs_second_factor_enrollment,
        csrf_token=access.principal.csrf_token,
    )


@router.patch("", response_model=Me)
def update_me(body: MeUpdate, access: Profile) -> Me:
    user = _me(access)
    for field, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(user, field, value)
    access.db.commit()
    return get_me(access)


@router.get("/session", response_model=SessionPublic)
def get_session(access: Profile) -> SessionPublic:
    """The browser session: when it ends without activity, and until when it is freshly authenticated.
    The portal shows the time left from here: its own check sends `X-Leitstand-Background: 1`, which
    is no activity; without that header (its "Stay logged in") the request is one and moves the end."""
    login = access.db.get(LoginSession, access.principal.session_id) if access.principal.session_id else None
    if login is None:
        raise Problem(404, "not-found", "Not found", "API tokens have no browser session.")
    settings, now = access.settings, clock.now()
    ends_at = session_ends_at(login, settings)
    fresh_until = login.authenticated_at + timedelta(minutes=settings.reauthentication_minutes) if login.authenticated_at else None
    return SessionPublic(
        ends_at=ends_at, seconds_left=max(0, int((ends_at - now).total_seconds())), expires_at=login.expires_at,
        idle_minutes=settings.session_idle_minutes, fresh_until=fresh_until if fresh_until and fresh_until > now else None,
    )


class LoginSessionPublic(Public):
    """One of the user's browser sessions, as far as the user can tell it apart from the others."""

    id: int
    started_at: datetime = Field(description="When the login began.")
    last_seen_at: datetime = Field(description="The last activity, to the minute.")
    source_ip: str = Field(description="The client address at the login.")
    user_agent: str = Field(description="The browser it was made with, as it named itself.")
    current: bool = Field(description="Whether it is the session of this request.")


def open_sessions(access: Access) -> list[LoginSession]:
    """The caller's browser sessions that have not ended yet, oldest first. Ended ones linger as
    rows until their cookie comes back (leitstand.web.deps), so the time decides, not the row."""
    now = clock.now()
    logins = access.db.scalars(select(LoginSession).where(LoginSession.expires_at > now).order_by(LoginSession.id))
    return [login for login in logins if session_ends_at(login, access.settings) > now]


def _end_session(access: Access, login: LoginSession) -> None:
    access.db.delete(login)
    record(access.db, "auth.session_ended", target_type=LoginSession.__tablename__, target_id=login.id,
           details={"started_at": login.created_at.isoformat(), "source_ip": login.source_ip,
                    "user_agent": login.user_agent})


@router.get("/sessions", response_model=list[LoginSessionPublic])
def list_sessions(access: Profile) -> list[LoginSessionPublic]:
    """Your browser sessions that are still open, to spot one that is not yours and end it."""
    return [
        LoginSessionPublic(id=login.id, started_at=login.created_at, last_seen_at=login.last_seen_at,
                           source_ip=login.source_ip, user_agent=login.user_agent,
                           current=login.id == access.principal.session_id)
        for login in open_sessions(access)
    ]


@router.delete("/sessions", status_code=204)
def end_other_sessions(access: Profile) -> Response:
    """End every browser session of yours but this one (with an API token: every one). Log out
    to end this one too."""
    for login in open_sessions(access):
        if login.id != access.principal.session_id:
            _end_session(access, login)
    access.db.commit()
    return Response(status_code=204)


@router.delete("/sessions/{session_id}", status_code=204,
               responses={409: {"description": "The session of this request: log out instead"}})
def end_session(session_id: ObjectId, access: Profile) -> Response:
    """End one other browser session of yours: its next request is refused (401)."""
    login = get_visible(access.db, LoginSession, session_id, "session")
    if login.id == access.principal.session_id:
        raise conflict("This is the session of this request; log out to end it (POST /api/v1/auth/logout).")
    _end_session(access, login)
    access.db.commit()
    return Response(status_code=204)


def _verify_second_factor(body: Reauthentication, access: Access, request: Request, user: User) -> str | None:
    """The method of the second factor the body proves, or None when the user has none. Raises
    SecondFactorRefused for a wrong or missing one."""
    methods, box = second_factor.methods_of(access.db, user), secret_box(request)
    if not methods:
        return None
    if body.totp_code is not None and "totp" in methods:
        second_factor.verify_totp(user, box, body.totp_code)
        return "totp"
    if body.yubico_otp is not None and "yubico_otp" in methods:
        second_factor.verify_yubikey(access.db, user, box, body.yubico_otp)
        return "yubico_otp"
    if body.webauthn is not None and "webauthn" in methods:
        second_factor.verify_webauthn(access.db, user, box, access.settings, body.webauthn.credential,
                                      body.webauthn.state, access.principal.session_id or 0, purpose="reauthenticate")
        return "webauthn"
    raise second_factor.SecondFactorRefused(Message("Give one of your second factors as well: %(methods)s.",
                                                    methods=", ".join(methods)))


@router.post("/reauthenticate", response_model=Reauthenticated, responses={429: LOGIN_THROTTLED})
def reauthenticate(body: Reauthentication, access: SignIn, request: Request, response: Response) -> Reauthenticated:
    """Confirm it is you, before changing the password or a second factor: the password and,
    if you have any, one second factor. The session counts as fresh for `reauthentication_minutes`
    and gets a new cookie and CSRF token. Failures count like failed logins."""
    user, settings = _me(access), access.settings
    client, policy = client_ip(request), throttle.login_policy(settings)
    refusal = throttle.check(access.db, policy, user.email, client)
    if refusal is not None:
        raise refused_for_throttle(refusal)
    try:
        if not verify_password(user.password_hash, body.password):
            raise second_factor.SecondFactorRefused("The password is wrong.")
        method = _verify_second_factor(body, access, request, user)
    except second_factor.SecondFactorRefused as error:
        access.db.rollback()
        count_login_failure(access.db, settings, user, user.email, client)
        record(access.db, "auth.reauthentication", outcome="failure", details={"reason": str(error)})
        access.db.commit()
        raise Problem(403, "bad-credentials", "Not confirmed", error.text) from error
    login = access.db.get(LoginSession, access.principal.session_id)
    assert login is not None  # a browser session: tokens never reach sign-in routes
    csrf = renew_session(login, response, settings)
    throttle.record_success(access.db, policy, user.email, client)
    record(access.db, "auth.reauthentication", details={"method": method} if method else None)
    access.db.commit()
    return Reauthenticated(csrf_token=csrf, fresh_until=clock.now() + timedelta(minutes=settings.reauthentication_minutes))


@router.post("/reauthenticate/webauthn-options", response_model=WebAuthnOptions)
def reauthentication_webauthn_options(access: SignIn, request: Request) -> WebAuthnOptions:
    """A security-key challenge for `POST /me/reauthenticate`, valid for this session only."""
    try:
        options, state = second_factor.webauthn_login_options(
            access.db, _me(access), secret_box(request), access.settings, access.principal.session_id or 0,
            purpose="reauthenticate",
        )
    except second_factor.SecondFactorRefused as error:
        raise Problem(409, "no-security-key", "No security key", error.text) from error
    return WebAuthnOptions(options=options, state=state)


def _refused_password(error: PasswordRefused, field: str) -> Problem:
    return invalid_field(error.code, error.text, field)


@router.post("/password", status_code=204, responses={429: LOGIN_THROTTLED})
def change_password(body: PasswordChange, access: SignInChange, request: Request) -> Response:
    """Change the password; it must pass the password rule (the codes of a 422: password-too-short,
    -too-long, -too-common, -is-email). Other browser sessions of the account end; this one stays."""
    user = _me(access)
    client, policy = client_ip(request), throttle.login_policy(access.settings)
    # Wrong current passwords count like failed logins, so a borrowed session cannot guess freely.
    refusal = throttle.check(access.db, policy, user.email, client)
    if refusal is not None:
        raise refused_for_throttle(refusal)
    if not verify_password(user.password_hash, body.current_password):
        count_login_failure(access.db, access.settings, user, user.email, client)
        access.db.commit()
        raise Problem(403, "bad-credentials", "Wrong password", "The current password is wrong.")
    try:
        set_password(access.db, user, body.new_password)
    except PasswordRefused as error:
        raise _refused_password(error, "new_password") from error
    for login in access.db.scalars(select(LoginSession).where(LoginSession.id != access.principal.session_id)):
        access.db.delete(login)
    throttle.record_success(access.db, policy, user.email, client)
    notify_account_change(access.db, access.settings, user, AccountChange.password_changed, client)
    access.db.commit()
    return Response(status_code=204)


@router.post("/totp/setup", response_model=TotpSetup)
def totp_setup(access: SignIn) -> TotpSetup:
    """A fresh secret to scan into an authenticator app. Nothing is stored until confirmed."""
    secret, uri = second_factor.new_totp_secret(_me(access))
    return TotpSetup(secret=secret, provisioning_uri=uri)


@router.post("/totp", status_code=204, responses={409: {"description": "An authenticator app is set up already"}})
def totp_confirm(body: TotpConfirm, access: SignInChange, request: Request) -> Response:
    """Set up an authenticator app with a code from it. One that is set up already is never replaced
    here: remove it first (DELETE /me/totp), so a replacement is two deliberate, mailed changes."""
    user = _me(access)
    if user.has_totp:
        raise conflict("An authenticator app is set up already; remove it first (DELETE /api/v1/me/totp).")
    try:
        second_factor.enrol_totp(user, secret_box(request), body.secret, body.code)
    except second_factor.SecondFactorRefused as error:
        raise invalid(error.text) from error
    notify_account_change(access.db, access.settings, user, AccountChange.totp_added, client_ip(request))
    access.db.commit()
    return Response(status_code=204)


@router.delete("/totp", status_code=204)
def totp_remove(access: SignInChange, request: Request) -> Response:
    user = _me(access)
    if not user.has_totp:
        raise Problem(404, "not-found", "Not found", "No authenticator app is set up.")
    user.totp_secret_encrypted, user.totp_last_step = None, 0
    notify_account_change(access.db, access.settings, user, AccountChange.totp_removed, client_ip(request))
    access.db.commit()
    return Response(status_code=204)


@router.get("/yubikeys", response_model=list[KeyPublic])
def list_yubikeys(access: SignIn) -> list[KeyPublic]:
    return presentable(access.db.scalars(select(YubiKey).order_by(YubiKey.id)), KeyPublic.model_validate)


@router.post("/yubikeys", response_model=KeyPublic, status_code=201)
def add_yubikey(body: YubiKeyEnrol, access: SignInChange, request: Request) -> YubiKey:
    user = _me(access)
    secret = second_factor.YubiKeySecret(bytes.fromhex(body.private_id), bytes.fromhex(body.aes_key))
    try:
        key = second_factor.enrol_yubikey(access.db, user, secret_box(request), body.name, secret, body.otp)
    except second_factor.SecondFactorRefused as error:
        raise invalid(error.text) from error
    notify_account_change(access.db, access.settings, user, AccountChange.yubikey_added, client_ip(request), body.name)
    access.db.commit()
    return key


@router.delete("/yubikeys/{key_id}", status_code=204)
def remove_yubikey(key_id: ObjectId, access: SignInChange, request: Request) -> Response:
    key = get_visible(access.db, YubiKey, key_id, "YubiKey")
    access.db.delete(key)
    notify_account_change(access.db, access.settings, _me(access), AccountChange.yubikey_removed, client_ip(request),
                          key.name)
    access.db.commit()
    return Response(status_code=204)


@router.get("/webauthn", response_model=list[KeyPublic])
def list_security_keys(access: SignIn) -> list[KeyPublic]:
    return presentable(access.db.scalars(select(WebAuthnKey).order_by(WebAuthnKey.id)), KeyPublic.model_validate)


@router.post("/webauthn/options", response_model=WebAuthnOptions)
def security_key_options(access: SignInChange, request: Request) -> WebAuthnOptions:
    options, state = second_factor.webauthn_registration(access.db, _me(access), secret_box(request), access.settings)
    return WebAuthnOptions(options=options, state=state)


@router.post("/webauthn", response_model=KeyPublic, status_code=201)
def add_security_key(body: WebAuthnEnrol, access: SignInChange, request: Request) -> WebAuthnKey:
    user = _me(access)
    try:
        key = second_factor.enrol_webauthn(
            access.db, user, secret_box(request), access.settings, body.name, body.credential, body.state
        )
    except second_factor.SecondFactorRefused as error:
        raise invalid(error.text) from error
    notify_account_change(access.db, access.settings, user, AccountChange.security_key_added, client_ip(request),
                          body.name)
    access.db.commit()
    return key


@router.delete("/webauthn/{key_id}", status_code=204)
def remove_security_key(key_id: ObjectId, access: SignInChange, request: Request) -> Response:
    key = get_visible(access.db, WebAuthnKey, key_id, "security key")
    access.db.delete(key)
    notify_account_change(access.db, access.settings, _me(access), AccountChange.security_key_removed,
                          client_ip(request), key.name)
    access.db.commit()
    return Response(status_code=204)


def _recovery_codes_of(access: Access, user: User) -> RecoveryCodesPublic:
    return RecoveryCodesPublic(remaining=recovery_codes.unused_count(access.db, user.id),
                               created_at=recovery_codes.set_created_at(access.db, user.id))


@router.get("/recovery-codes", response_model=RecoveryCodesPublic)
def get_recovery_codes(access: SignIn) -> RecoveryCodesPublic:
    """How many of your recovery codes are unused, and when the set was made. The codes themselves
    are shown only when they are made."""
    return _recovery_codes_of(access, _me(access))


@router.post("/recovery-codes", response_model=RecoveryCodesCreated, status_code=201,
             responses={409: {"description": "You have no second factor the codes could stand in for"}})
def create_recovery_codes(access: SignInChange, request: Request) -> RecoveryCodesCreated:
    """A new set of recovery codes, in place of any earlier one (which stops working). Store them
    where you would find them without your second factor: each one completes one login instead of it."""
    user = _me(access)
    if not second_factor.has_second_factor(access.db, user):
        raise conflict("Set up a second factor first: recovery codes stand in for it when it is lost.")
    replaced = recovery_codes.unused_count(access.db, user.id)
    codes = recovery_codes.create_set(access.db, user.id, secret_box(request))
    record(access.db, "auth.recovery_codes_created", target_type=User.__tablename__, target_id=user.id,
           details={"codes": len(codes), "unused_replaced": replaced})
    notify_account_change(access.db, access.settings, user, AccountChange.recovery_codes_created, client_ip(request))
    status = _recovery_codes_of(access, user)
    access.db.commit()
    return RecoveryCodesCreated(remaining=status.remaining, created_at=status.created_at, codes=codes)


@router.get("/tokens", response_model=list[TokenPublic])
def list_tokens(access: Tokens) -> list[TokenPublic]:
    return presentable(access.db.scalars(select(ApiToken).order_by(ApiToken.id)), TokenPublic.model_validate)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, access: Tokens, request: Request) -> TokenCreated:
    """An API token for an integration. It can do at most what you can, limited to its scopes.
    Made from a browser session only, by a user whose roles give `token.own`."""
    if access.principal.is_token:
        raise Problem(403, "forbidden", "Forbidden", "API tokens cannot create further tokens; log in as the user.")
    if access.principal.needs_second_factor_enrollment:
        # A token is not checked for a second factor, so it must not be a way around the tenant's requirement.
        raise Problem(
            403, "second-factor-required", "Second factor required", "Enrol a second factor before creating API tokens."
        )
    if not access.principal.has(Permission.own_tokens):
        raise Problem(403, "forbidden", "Forbidden",
                      Message("You lack the permission %(permission)s.", permission=Permission.own_tokens.value))
    missing = [scope for scope in body.scopes if scope != ACCOUNT_SCOPE and not access.principal.has(Permission(scope))]
    if missing:
        raise invalid(Message("You do not hold these permissions yourself: %(permissions)s.", permissions=", ".join(missing)))
    raw = new_token(TOKEN_PREFIX)
    token = ApiToken(
        user_id=access.principal.user_id, name=body.name, prefix=raw[:10], token_hash=token_digest(raw),
        scopes=sorted({str(scope) for scope in body.scopes}),
        expires_at=clock.now() + timedelta(days=body.expires_in_days) if body.expires_in_days else None,
    )
    access.db.add(token)
    notify_account_change(access.db, access.settings, _me(access), AccountChange.token_created, client_ip(request),
                          body.name)
    access.db.commit()
    return TokenCreated.model_validate({**TokenPublic.model_validate(token).model_dump(), "token": raw})


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: ObjectId, access: Tokens, request: Request) -> Response:
    token = get_visible(access.db, ApiToken, token_id, "API token")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        notify_account_change(access.db, access.settings, _me(access), AccountChange.token_revoked,
                              client_ip(request), token.name)
    access.db.commit()
    return Response(status_code=204)
