"""Request dependencies: the principal is authenticated and the tenant scope resolved once,
before any handler runs. Handlers receive an `Access`: a scoped session plus who asks.

    @router.get("/devices")
    def list_devices(access: Annotated[Access, requires(Permission.device_read)]): ...

Every query made through `access.db` is restricted to what the principal may reach
with that permission (see leitstand.tenancy.scope).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from leitstand.access.roles import Permission
from leitstand.audit.recorder import Actor, current_actor
from leitstand.auth.models import ApiToken, LoginSession
from leitstand.auth.principal import Principal, load_principal
from leitstand.auth.secrets import token_digest
from leitstand.clock import clock
from leitstand.config import Settings
from leitstand.support.access import record_support_views
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import AccessScope, bind_scope, system_session
from leitstand.users.models import User
from leitstand.web.errors import Problem

SESSION_COOKIE = "leitstand_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def unauthenticated(detail: str = "Log in or send a valid API token.") -> Problem:
    problem = Problem(401, "unauthenticated", "Authentication required", detail)
    problem.headers["WWW-Authenticate"] = "Bearer"
    return problem


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


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


def _principal_from_cookie(db: Session, request: Request, raw: str) -> Principal:
    login = db.scalar(select(LoginSession).where(LoginSession.token_hash == token_digest(raw)))
    if login is None or login.expires_at <= clock.now():
        raise unauthenticated("The session has expired; log in again.")
    if not login.second_factor_done:
        raise unauthenticated("Finish the second-factor step of the login first.")
    if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != login.csrf_token:
        raise Problem(403, "csrf", "CSRF check failed", f"Send the session's CSRF token in the {CSRF_HEADER} header.")
    user = db.get(User, login.user_id)
    if user is None or not user.is_active:
        raise unauthenticated("The user is deactivated.")
    tenant = db.get(Tenant, user.tenant_id)
    from leitstand.auth.second_factor import has_second_factor

    needs_enrollment = bool(tenant and tenant.require_second_factor and not has_second_factor(db, user))
    return load_principal(
        db, user, session_id=login.id, csrf_token=login.csrf_token, needs_second_factor_enrollment=needs_enrollment
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
    if raw := request.cookies.get(SESSION_COOKIE):
        return _principal_from_cookie(db, request, raw)
    raise unauthenticated()


async def authenticate(request: Request) -> Principal:
    """The principal behind a request: a bearer API token or a browser session cookie."""
    principal = await run_in_threadpool(_load_request_principal, request)
    # Set here, in the request's own context: a sync dependency runs in a worker thread on a
    # copy of the context, so the actor it set would never reach the handler or the audit log.
    current_actor.set(Actor(principal.user_id, principal.tenant_id, principal.email, client_ip(request)))
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


def _open_scoped(request: Request, principal: Principal, permission: Permission) -> Iterator[Access]:
    scope = principal.scope_for(permission)
    if scope.is_empty:
        raise Problem(403, "forbidden", "Forbidden", f"You lack the permission {permission.value}.")
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


SelfService = Annotated[Access, Depends(_self_service)]
