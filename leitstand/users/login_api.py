"""Login routes: password, second factor, logout, and the e-mail link flows.

A login is two steps when the user has a second factor: the password step opens a
pending session (cookie set, nothing else allowed), and one of the second-factor
steps completes it under a new cookie and CSRF token (renew_session). Failed passwords and failed second factors both count towards
the throttle (leitstand.auth.throttle): per account and client address, per address, and
per account over all addresses, which slows down the guessers and warns the owner but
never locks the account.

The routes live with the accounts (they send the accounts' mails and redeem their links,
leitstand.users.service) on top of the mechanisms of leitstand.auth, which knows no account
service: the paths (/auth/...), the tag and the operation ids stay those of the sign-in.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.accounts.models import User
from leitstand.audit.recorder import Actor, record
from leitstand.auth import recovery_codes, second_factor, throttle
from leitstand.auth.known_browsers import note_browser
from leitstand.auth.models import LoginSession
from leitstand.auth.password_policy import PasswordRefused
from leitstand.auth.secrets import SecretBox, new_token, token_digest, verify_password
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.i18n import LANGUAGE_COOKIE
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import system_session
from leitstand.users.schemas import PasswordResetRequest, TokenRedemption
from leitstand.users.service import (AccountChange, LinkPurpose, LinkRefused, issue_password_reset, notify_account_change,
                                     notify_new_browser, redeem_link, warn_of_login_attempts)
from leitstand.web.deps import CSRF_HEADER, client_ip, get_session_factory, get_settings, session_cookie, session_cookie_name
from leitstand.web.errors import Message, Problem, invalid_field, throttled, throttled_response
from leitstand.web.types import Input, LoginEmail, Public, Secret

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginRequest(Input):
    email: LoginEmail
    password: Secret


class LoginResult(Public):
    second_factor_required: bool
    methods: list[str] = Field(description="Second-factor methods the user can complete the login with.")
    enrolment_required: bool = Field(description="The tenant requires a second factor the user has not set up yet.")
    csrf_token: str = Field(description=f"Send in the {CSRF_HEADER} header with every state-changing request.")
    user_id: int


# ASCII spelled out: \s and \d hold more in the server's regex engine (Rust) than in the schema's (ECMA).
TOTP_CODE = r"^[ \t]*[0-9]{6}[ \t]*$"


class CodeRequest(Input):
    code: Annotated[str, Field(pattern=TOTP_CODE)]


# Ten letters and digits, with any spaces, tabs and dashes around them (typed as shown: ABCDE-FGHJK).
RECOVERY_CODE = r"^[ \t-]*(?:[0-9A-Za-z][ \t-]*){10}$"


class RecoveryCodeRequest(Input):
    code: Annotated[str, Field(max_length=40, pattern=RECOVERY_CODE,
                               description="One of your recovery codes, in any case, with or without the dash.")]


class YubicoRequest(Input):
    otp: Annotated[str, Field(min_length=32, max_length=64)]


class WebAuthnOptions(Public):
    options: dict[str, Any]
    state: str


class WebAuthnAssertion(Input):
    credential: dict[str, Any]
    state: Annotated[str, Field(max_length=4000)]


def secret_box(request: Request) -> SecretBox:
    return request.app.state.secret_box  # type: ignore[no-any-return]


def _actor(request: Request, user: User | None, email: str) -> Actor:
    return Actor(user.id if user else None, user.tenant_id if user else None, email, client_ip(request))


def refused_for_throttle(refusal: throttle.Refusal) -> Problem:
    return throttled("login-throttled", "Too many failed attempts; wait before trying again.", refusal.retry_after_seconds)


LOGIN_THROTTLED = throttled_response("Too many failed attempts from this client; wait for Retry-After seconds")


def count_login_failure(db: Session, settings: Settings, user: User | None, email: str, client: str) -> None:
    """Count a wrong password or second factor; warn the owner when failures pile up."""
    failure = throttle.record_failure(db, throttle.login_policy(settings), email, client)
    if failure.alert and user is not None and user.is_active:
        warn_of_login_attempts(db, settings, user, failure.subject_failures, settings.login_failure_window_minutes)


def _set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        session_cookie_name(settings), token, max_age=settings.session_hours * 3600, httponly=True,
        secure=settings.secure_cookies, samesite="lax", path="/",
    )


def _remember_language(response: Response, settings: Settings, user: User) -> None:
    """Pages that know no user (an unknown address, the login page after logging out) follow this
    cookie: set at login, it keeps them in the user's language when the browser's is another."""
    response.set_cookie(LANGUAGE_COOKIE, user.language, max_age=365 * 24 * 3600, secure=settings.secure_cookies,
                        samesite="lax", path="/")


def _note_browser(db: Session, settings: Settings, user: User, request: Request, response: Response, client: str) -> None:
    if note_browser(db, settings, user.id, request, response) and settings.new_browser_notice:
        notify_new_browser(db, settings, user, client, request.headers.get("user-agent", ""))


@router.post("/login", response_model=LoginResult, responses={429: LOGIN_THROTTLED})
def login(body: LoginRequest, request: Request, response: Response) -> LoginResult:
    settings = get_settings(request)
    email, client = body.email.lower(), client_ip(request)
    with system_session(get_session_factory(request), reason="password login") as db:
        refusal = throttle.check(db, throttle.login_policy(settings), email, client)
        user = db.scalar(select(User).where(User.email == email))
        if refusal is not None:
            record(db, "auth.login", outcome="failure", details={"reason": "throttled"}, actor=_actor(request, user, email))
            db.commit()
            raise refused_for_throttle(refusal)
        # Verified for unknown and deactivated accounts too (against a decoy): the same work either way.
        password_matches = verify_password(user.password_hash if user else None, body.password)
        if user is None or not user.is_active or not password_matches:
            count_login_failure(db, settings, user, email, client)
            record(db, "auth.login", outcome="failure", details={"reason": "bad credentials"}, actor=_actor(request, user, email))
            db.commit()
            raise Problem(401, "bad-credentials", "Login failed", "E-mail or password is wrong.")
        methods = recovery_codes.login_methods(db, user.id, second_factor.methods_of(db, user))
        tenant = db.get(Tenant, user.tenant_id)
        token, csrf = new_token(), new_token()
        now = clock.now()
        db.add(
            LoginSession(
                user_id=user.id, token_hash=token_digest(token), csrf_token=csrf, second_factor_done=not methods,
                expires_at=now
                + (timedelta(hours=settings.session_hours) if not methods else timedelta(minutes=settings.pending_login_minutes)),
                authenticated_at=None if methods else now, last_seen_at=now,
                source_ip=client, user_agent=request.headers.get("user-agent", "")[:300],
            )
        )
        if not methods:
            throttle.record_success(db, throttle.login_policy(settings), email, client)
            _note_browser(db, settings, user, request, response, client)
        record(db, "auth.login" if not methods else "auth.password", actor=_actor(request, user, email))
        db.commit()
        _set_session_cookie(response, settings, token)
        if not methods:
            _remember_language(response, settings, user)
        return LoginResult(
            second_factor_required=bool(methods), methods=methods, csrf_token=csrf, user_id=user.id,
            enrolment_required=bool(tenant and tenant.require_second_factor and not methods),
        )


class PendingLogin:
    """A login past its password step, waiting for the second factor."""

    def __init__(self, db: Session, login: LoginSession, user: User) -> None:
        self.db, self.login, self.user = db, login, user


def pending_login(request: Request) -> Any:
    raw = session_cookie(request)
    with system_session(get_session_factory(request), reason="second-factor login step") as db:
        login = db.scalar(select(LoginSession).where(LoginSession.token_hash == token_digest(raw))) if raw else None
        if login is None or login.expires_at <= clock.now() or login.second_factor_done:
            raise Problem(401, "no-pending-login", "No pending login", "Start with the password step.")
        if request.headers.get(CSRF_HEADER) != login.csrf_token:
            raise Problem(403, "csrf", "CSRF check failed",
                          Message("Send the login's CSRF token in the %(header)s header.", header=CSRF_HEADER))
        user = db.get(User, login.user_id)
        if user is None or not user.is_active:
            raise Problem(401, "no-pending-login", "No pending login", "The account is deactivated.")
        yield PendingLogin(db, login, user)


Pending = Annotated[PendingLogin, Depends(pending_login)]


def renew_session(login: LoginSession, response: Response, settings: Settings) -> str:
    """After an authentication step: the session gets a new cookie token and CSRF token, so
    neither the half-logged-in session's nor any earlier one's opens it any more (no fixation).
    Every factor was just proved: it counts as fresh. Returns the new CSRF token."""
    token, now = new_token(), clock.now()
    login.token_hash, login.csrf_token = token_digest(token), new_token()
    login.authenticated_at = login.last_seen_at = now
    _set_session_cookie(response, settings, token)
    return login.csrf_token


def _complete(pending: PendingLogin, request: Request, response: Response, method: str, check: Any) -> LoginResult:
    settings = get_settings(request)
    db, user, client = pending.db, pending.user, client_ip(request)
    policy = throttle.login_policy(settings)
    refusal = throttle.check(db, policy, user.email, client)
    if refusal is not None:
        raise refused_for_throttle(refusal)
    try:
        check()
    except second_factor.SecondFactorRefused as error:
        db.rollback()
        count_login_failure(db, settings, user, user.email, client)
        record(db, "auth.second_factor", outcome="failure", details={"method": method, "reason": str(error)},
               actor=_actor(request, user, user.email))
        db.commit()
        raise Problem(401, "second-factor-refused", "Second factor refused", error.text) from error
    pending.login.second_factor_done = True
    pending.login.expires_at = clock.now() + timedelta(hours=settings.session_hours)
    csrf = renew_session(pending.login, response, settings)
    _remember_language(response, settings, user)
    throttle.record_success(db, policy, user.email, client)
    _note_browser(db, settings, user, request, response, client)
    record(db, "auth.login", details={"method": method}, actor=_actor(request, user, user.email))
    db.commit()
    return LoginResult(
        second_factor_required=False, methods=[method], csrf_token=csrf, user_id=user.id, enrolment_required=False,
    )


@router.post("/login/totp", response_model=LoginResult, responses={429: LOGIN_THROTTLED})
def login_totp(body: CodeRequest, pending: Pending, request: Request, response: Response) -> LoginResult:
    box = secret_box(request)
    return _complete(pending, request, response, "totp", lambda: second_factor.verify_totp(pending.user, box, body.code))


@router.post("/login/yubico-otp", response_model=LoginResult, responses={429: LOGIN_THROTTLED})
def login_yubico(body: YubicoRequest, pending: Pending, request: Request, response: Response) -> LoginResult:
    box = secret_box(request)
    return _complete(pending, request, response, "yubico_otp",
                     lambda: second_factor.verify_yubikey(pending.db, pending.user, box, body.otp))


@router.post("/login/recovery-code", response_model=LoginResult, responses={429: LOGIN_THROTTLED})
def login_recovery_code(body: RecoveryCodeRequest, pending: Pending, request: Request, response: Response) -> LoginResult:
    """Complete the login with a recovery code in place of a lost second factor; offered (in the
    password step's `methods`) while you have a second factor and unused codes. Each code works
    once, and you are mailed how many are left."""
    box, settings, client = secret_box(request), get_settings(request), client_ip(request)

    def spend_code() -> None:
        factors = second_factor.methods_of(pending.db, pending.user)
        left = recovery_codes.spend(pending.db, pending.user.id, box, body.code, factors)
        record(pending.db, "auth.recovery_code_used", details={"left": left},
               actor=_actor(request, pending.user, pending.user.email))
        notify_account_change(pending.db, settings, pending.user, AccountChange.recovery_code_used, client, left=left)

    return _complete(pending, request, response, recovery_codes.METHOD, spend_code)


@router.post("/login/webauthn/options", response_model=WebAuthnOptions)
def login_webauthn_options(pending: Pending, request: Request) -> WebAuthnOptions:
    try:
        options, state = second_factor.webauthn_login_options(
            pending.db, pending.user, secret_box(request), get_settings(request), pending.login.id
        )
    except second_factor.SecondFactorRefused as error:
        raise Problem(409, "no-security-key", "No security key", error.text) from error
    return WebAuthnOptions(options=options, state=state)


@router.post("/login/webauthn", response_model=LoginResult, responses={429: LOGIN_THROTTLED})
def login_webauthn(body: WebAuthnAssertion, pending: Pending, request: Request, response: Response) -> LoginResult:
    box, settings = secret_box(request), get_settings(request)
    return _complete(
        pending, request, response, "webauthn",
        lambda: second_factor.verify_webauthn(
            pending.db, pending.user, box, settings, body.credential, body.state, pending.login.id
        ),
    )


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response) -> Response:
    raw = session_cookie(request)
    if raw:
        with system_session(get_session_factory(request), reason="logout") as db:
            login = db.scalar(select(LoginSession).where(LoginSession.token_hash == token_digest(raw)))
            if login is not None:
                if request.headers.get(CSRF_HEADER) != login.csrf_token:
                    raise Problem(403, "csrf", "CSRF check failed",
                                  Message("Send the session's CSRF token in the %(header)s header.", header=CSRF_HEADER))
                user = db.get(User, login.user_id)
                db.delete(login)
                record(db, "auth.logout", actor=_actor(request, user, user.email if user else ""))
                db.commit()
    response = Response(status_code=204)
    settings = get_settings(request)
    # Deleted with the attributes it was set with: a browser ignores a __Host- cookie that is not Secure.
    response.delete_cookie(session_cookie_name(settings), path="/", secure=settings.secure_cookies, httponly=True,
                           samesite="lax")
    return response


@router.post("/password-reset", status_code=202, response_class=Response, responses={
    429: throttled_response("Too many reset requests from this client; wait for Retry-After seconds")})
def request_password_reset(body: PasswordResetRequest, request: Request) -> Response:
    """Mail a reset link if the account exists. The answer is the same either way, and as fast.

    At most `password_reset_per_address` mails go to one address per window: further
    requests for it are answered alike but send nothing (the newest link sent still works).
    A client asking more than `password_reset_per_client` times per window gets 429.
    """
    settings = get_settings(request)
    email, client = body.email.lower(), client_ip(request)
    window = timedelta(minutes=settings.password_reset_window_minutes)
    with system_session(get_session_factory(request), reason="password reset request") as db:
        refusal = throttle.take(db, "reset-client", client, settings.password_reset_per_client, window)
        if refusal is not None:
            db.commit()
            raise throttled("reset-throttled", "Too many reset requests; wait before asking again.",
                            refusal.retry_after_seconds)
        user = db.scalar(select(User).where(User.email == email))
        if throttle.take(db, "reset-address", email, settings.password_reset_per_address, window) is not None:
            reason = "address quota used up"
        else:
            issue_password_reset(db, settings, user)
            reason = "" if user is not None and user.is_active else "no active account"
        record(db, "auth.password_reset_requested", outcome="failure" if reason else "success",
               details={"reason": reason} if reason else None, actor=_actor(request, user, email))
        db.commit()
    return Response(status_code=202)


def _redeem(request: Request, purpose: LinkPurpose, body: TokenRedemption) -> Response:
    settings = get_settings(request)
    with system_session(get_session_factory(request), reason=f"redeem {purpose.value} link") as db:
        try:
            user = redeem_link(db, purpose, body.token, body.password)
        except LinkRefused as error:
            raise Problem(400, "link-refused", "Link not valid", error.text) from error
        except PasswordRefused as error:  # the link stays usable for a better password
            raise invalid_field(error.code, error.text, "password") from error
        if purpose == LinkPurpose.password_reset:
            notify_account_change(db, settings, user, AccountChange.password_changed, client_ip(request))
        # A new password ends every existing session of the account.
        for login in db.scalars(select(LoginSession).where(LoginSession.user_id == user.id)):
            db.delete(login)
        # Whoever holds the mailbox may log in from here at once, without waiting out a back-off.
        throttle.record_success(db, throttle.login_policy(settings), user.email, client_ip(request))
        record(db, f"auth.{purpose.value}_redeemed", actor=_actor(request, user, user.email))
        db.commit()
    return Response(status_code=204)


@router.post("/password-reset/confirm", status_code=204, responses={400: {"description": "Link unknown, used or expired"}})
def confirm_password_reset(body: TokenRedemption, request: Request) -> Response:
    return _redeem(request, LinkPurpose.password_reset, body)


@router.post("/invitation/accept", status_code=204, responses={400: {"description": "Link unknown, used or expired"}})
def accept_invitation(body: TokenRedemption, request: Request) -> Response:
    return _redeem(request, LinkPurpose.invitation, body)
