"""Request dependencies: the principal is authenticated and the tenant scope resolved once,
before any handler runs. Handlers receive an `Access`: a scoped session plus who asks.

    @router.get("/devices")
    def list_devices(access: Annotated[Access, requires(Permission.device_read)]): ...

Every query made through `access.db` is restricted to what the principal may reach
with that permission (see leitstand.tenancy.scope).
"""

from __future__ import annotations

import hmac

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from leitstand.accounts.models import User
from leitstand.audit.recorder import Actor, current_actor
from leitstand.auth.models import ApiToken, LoginSession
from leitstand.auth.principal import ACCOUNT_SCOPE, Principal, load_principal
from leitstand.auth.secrets import token_digest
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.permissions import Permission
from leitstand.support.access import record_support_views
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import AccessScope, bind_scope, system_session
from leitstand.web.errors import Message, Problem

SESSION_COOKIE = "leitstand_session"
# Behind https the cookie carries the __Host- prefix: a browser then keeps it only if it is Secure,
# for path / and without a Domain, so a sibling host cannot plant or overwrite it (ASVS 3.4.4).
# Plain http (a first start on a laptop) cannot set Secure cookies and keeps the plain name.
SECURE_SESSION_COOKIE = "__Host-leitstand_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Sent by the portal's own requests that no person caused (polls, refreshes after a live update):
# they do not keep a session from ending when idle. A route can declare the same of itself with
# openapi_extra={SESSION_ACTIVITY: False} (the live stream, which a browser opens without headers).
BACKGROUND_HEADER = "x-leitstand-background"
SESSION_ACTIVITY = "x-session-activity"
# A session's last activity is written at most this often: a sliding timeout without a write per request.
LAST_SEEN_EVERY = timedelta(minutes=1)


def unauthenticated(detail: str = "Log in or send a valid API token.") -> Problem:
    problem = Problem(401, "unauthenticated", "Authentication required", detail)
    problem.headers["WWW-Authenticate"] = "Bearer"
    return problem


def client_ip(request: Request) -> str:
    """The client's address, for throttling, sessions and the audit log: the direct peer, or,
    when the peer is a trusted proxy (`trusted_proxies`), the right-most X-Forwarded-For entry
    that is not a trusted proxy itself. Entries left of that one are the client's own say."""
    peer = request.client.host if request.client else ""
    trusted = get_settings(request).trusted_proxies
    if not trusted or not _within(_address(peer), trusted):
        return peer
    chain = [entry for header in request.headers.getlist("x-forwarded-for") for entry in header.split(",")]
    nearest = peer
    for entry in reversed(chain):
        address = _address(entry)
        if address is None:
            break  # not what a proxy writes: the best known address is the hop after it
        nearest = str(address)
        if not _within(address, trusted):
            break
    return nearest


def _address(text: str) -> IPv4Address | IPv6Address | None:
    """An address as peers and proxies write it: plain, "[v6]" or "[v6]:port", "v4:port"."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    return address.ipv4_mapped or address if isinstance(address, IPv6Address) else address


def _within(address: IPv4Address | IPv6Address | None, networks: list[IPv4Network | IPv6Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def session_cookie_name(settings: Settings) -> str:
    return SECURE_SESSION_COOKIE if settings.secure_cookies else SESSION_COOKIE


def session_cookie(request: Request) -> str | None:
    """The session token the browser sent, under the one name this installation uses."""
    return request.cookies.get(session_cookie_name(get_settings(request)))


def get_session_factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.session_factory  # type: ignore[no-any-return]


def _principal_from_token(db: Session, raw: str) -> Principal:
    token = db.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(raw)))
    now = clock.now()
    if token is None or token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
        raise unauthenticated("The API token is unknown, revoked or expired.")
    user = db.get(User, token.user_id)
    if user is None or not user.is_active:
        raise unauthenticated("The token's user is deactivated.")
    # Writing last-used on every call would turn every read into a write; once a minute is enough.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
        db.commit()
    return load_principal(db, user, token_scopes=frozenset(token.scopes))


def session_ends_at(login: LoginSession, settings: Settings) -> datetime:
    """When a browser session ends unless it is used again: idle timeout or absolute limit, the earlier."""
    return min(login.expires_at, login.last_seen_at + timedelta(minutes=settings.session_idle_minutes))


def _counts_as_activity(request: Request) -> bool:
    route = request.scope.get("route")
    declared = (getattr(route, "openapi_extra", None) or {}).get(SESSION_ACTIVITY, True)
    return bool(declared) and request.headers.get(BACKGROUND_HEADER) is None


def _principal_from_cookie(db: Session, request: Request, raw: str) -> Principal:
    login = db.scalar(select(LoginSession).where(LoginSession.token_hash == token_digest(raw)))
    settings, now = get_settings(request), clock.now()
    if login is None or session_ends_at(login, settings) <= now:
        raise unauthenticated("The session has ended (logged out, idle too long or too old); log in again.")
    if not login.second_factor_done:
        raise unauthenticated("Finish the second-factor step of the login first.")
    # A plain HTML form (a portal page without JavaScript) sends the token as a form field instead.
    sent_token = request.headers.get(CSRF_HEADER) or getattr(request.state, "form_csrf_token", None)
    if request.method not in SAFE_METHODS and not hmac.compare_digest(
            (sent_token or "").encode(), login.csrf_token.encode()):
        raise Problem(403, "csrf", "CSRF check failed",
                      Message("Send the session's CSRF token in the %(header)s header.", header=CSRF_HEADER))
    user = db.get(User, login.user_id)
    if user is None or not user.is_active:
        raise unauthenticated("The user is deactivated.")
    if _counts_as_activity(request) and now - login.last_seen_at >= LAST_SEEN_EVERY:
        login.last_seen_at = now
        db.commit()
    tenant = db.get(Tenant, user.tenant_id)
    from leitstand.auth.second_factor import has_second_factor

    needs_enrollment = bool(tenant and tenant.require_second_factor and not has_second_factor(db, user))
    return load_principal(
        db, user, session_id=login.id, csrf_token=login.csrf_token, needs_second_factor_enrollment=needs_enrollment,
        authenticated_at=login.authenticated_at, session_ends_at=session_ends_at(login, settings),
    )


def _load_request_principal(request: Request) -> Principal:
    factory = get_session_factory(request)
    with system_session(factory, reason="authenticate request") as db:
        principal = _principal_from_credentials(db, request)
        # A request made under support access is audited for the customer (leitstand.support.access).
        record_support_views(db, principal, request.method, request.url.path, client_ip(request))
        return principal


def _principal_from_credentials(db: Session, request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return _principal_from_token(db, header[7:].strip())
    if raw := session_cookie(request):
        return _principal_from_cookie(db, request, raw)
    raise unauthenticated()


async def authenticate(request: Request) -> Principal:
    """The principal behind a request: a bearer API token or a browser session cookie."""
    principal = await run_in_threadpool(_load_request_principal, request)
    # Set here, in the request's own context: a sync dependency runs in a worker thread on a
    # copy of the context, so the actor it set would never reach the handler or the audit log.
    current_actor.set(Actor(principal.user_id, principal.tenant_id, principal.email, client_ip(request)))
    request.state.principal = principal  # its language setting decides the language of a problem answer
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


@dataclass
class Access:
    """A verified principal with a session restricted to what one permission reaches."""

    principal: Principal
    permission: Permission
    scope: AccessScope
    db: Session
    settings: Settings
    session_factory: sessionmaker[Session]

    def has(self, permission: Permission) -> bool:
        return self.principal.has(permission)

    def scoped_for(self, permission: Permission) -> Session:
        """A second session for a different permission, e.g. to check a grant's target."""
        return bind_scope(self.session_factory(), self.principal.scope_for(permission))

    def reaches(self, permission: Permission, model: type[Any], key: Any) -> bool:
        """Whether `permission` reaches this very object, not just something of its kind:
        a grant may allow operating one device and servicing another."""
        if permission == self.permission:
            return self.db.get(model, key) is not None
        if not self.has(permission):
            return False
        with self.scoped_for(permission) as db:
            return db.get(model, key) is not None


def _open_scoped(request: Request, principal: Principal, permission: Permission) -> Iterator[Access]:
    scope = principal.scope_for(permission)
    if scope.is_empty:
        raise Problem(403, "forbidden", "Forbidden", Message("You lack the permission %(permission)s.", permission=permission.value))
    factory = get_session_factory(request)
    db = bind_scope(factory(), scope)
    try:
        yield Access(principal, permission, scope, db, get_settings(request), factory)
    finally:
        db.close()


def requires(permission: Permission) -> Any:
    """Dependency marker: authenticate, check the permission, hand out a scoped session."""

    def dependency(request: Request, principal: CurrentPrincipal) -> Iterator[Access]:
        if principal.needs_second_factor_enrollment:
            raise Problem(
                403,
                "second-factor-required",
                "Second factor required",
                "Your organisation requires a second factor; enrol one under /api/v1/me first.",
            )
        yield from _open_scoped(request, principal, permission)

    dependency.permission = permission  # type: ignore[attr-defined]
    return Depends(dependency)


def route_permission(dependency: Callable[..., Any]) -> Permission | None:
    return getattr(dependency, "permission", None)


def _self_service(request: Request, principal: CurrentPrincipal) -> Iterator[Access]:
    # Reaches only the principal's own records: their user row, keys and tokens.
    scope = AccessScope(user_id=principal.user_id)
    factory = get_session_factory(request)
    db = bind_scope(factory(), scope)
    try:
        yield Access(principal, Permission.own_tokens, scope, db, get_settings(request), factory)
    finally:
        db.close()


class AccountArea(StrEnum):
    """The part of their own account a /me route is about; it decides what an API token may do there."""

    profile = "profile"  # name, language, the browser sessions (seeing and ending them)
    notifications = "notifications"  # push subscriptions, muted sites
    tokens = "tokens"  # API tokens
    sign_in = "sign-in"  # the password, second factors and re-authentication: never with a token


# What an API token needs for each area; None: no token, whatever its scopes.
TOKEN_SCOPE_FOR: dict[AccountArea, str | None] = {
    AccountArea.profile: ACCOUNT_SCOPE, AccountArea.notifications: ACCOUNT_SCOPE, AccountArea.tokens: ACCOUNT_SCOPE,
    AccountArea.sign_in: None,
}


def reauthentication_required(methods: list[str], minutes: int) -> Problem:
    detail = Message(
        "Confirm it is you: send your password and a second factor to POST /api/v1/me/reauthenticate, "
        "then repeat this request within %(minutes)s minutes.", minutes=minutes,
    ) if methods else Message(
        "Confirm it is you: send your password to POST /api/v1/me/reauthenticate, "
        "then repeat this request within %(minutes)s minutes.", minutes=minutes,
    )
    return Problem(403, "reauthentication-required", "Re-authentication required", detail, methods=methods)


def is_fresh(principal: Principal, settings: Settings) -> bool:
    """Whether the session proved every factor of its user within `reauthentication_minutes`."""
    proved = principal.authenticated_at
    return proved is not None and clock.now() - proved < timedelta(minutes=settings.reauthentication_minutes)


def _second_factors_of(request: Request, principal: Principal) -> list[str]:
    from leitstand.auth.second_factor import methods_of

    with system_session(get_session_factory(request), reason="second factors a re-authentication needs") as db:
        user = db.get(User, principal.user_id)
        return methods_of(db, user) if user is not None else []


def account(area: AccountArea, *, fresh: bool = False) -> Any:
    """Dependency marker for a route of the caller's own account (/me): a session that reaches
    only their own records. An API token gets in only with the `account` scope, and never to
    the password and second factors (AccountArea.sign_in). `fresh`: the route changes the
    password or a second factor, which needs a login or re-authentication within the last
    `reauthentication_minutes` (403 reauthentication-required otherwise)."""

    def dependency(request: Request, principal: CurrentPrincipal) -> Iterator[Access]:
        if principal.is_token:
            needed = TOKEN_SCOPE_FOR[area]
            if needed is None:
                raise Problem(403, "forbidden", "Forbidden",
                              "The password and second factors cannot be managed with an API token; log in instead.")
            if needed not in (principal.token_scopes or ()):
                raise Problem(403, "forbidden", "Forbidden",
                              Message("This API token lacks the %(scope)s scope, which your own account needs.", scope=needed))
        settings = get_settings(request)
        if fresh and not is_fresh(principal, settings):
            raise reauthentication_required(_second_factors_of(request, principal), settings.reauthentication_minutes)
        yield from _self_service(request, principal)

    dependency.account_area = area  # type: ignore[attr-defined]
    dependency.fresh = fresh  # type: ignore[attr-defined]
    return Depends(dependency)


def route_account_area(dependency: Callable[..., Any]) -> tuple[AccountArea, bool] | None:
    """The area and freshness an `account()` dependency declares, for the API documentation."""
    area = getattr(dependency, "account_area", None)
    return (area, bool(getattr(dependency, "fresh", False))) if area is not None else None
