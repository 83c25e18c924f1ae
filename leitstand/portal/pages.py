"""What every portal page shares: the page dependency, the templates and `render`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from leitstand import __version__
from leitstand.access.roles import Permission
from leitstand.audit.recorder import Actor, current_actor
from leitstand.auth import password_policy
from leitstand.auth.principal import Principal
from leitstand.clock import clock
from leitstand.portal import i18n
from leitstand.web.deps import Access, _load_request_principal, _open_scoped, client_ip
from leitstand.web.errors import Problem

PORTAL_DIR = Path(__file__).parent
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(PORTAL_DIR / "templates"), autoescape=True, extensions=["jinja2.ext.i18n"])
)
# New-password fields show the rule from where it is enforced.
templates.env.globals["password_rule"] = password_policy.RULE


class LoginRequired(Exception):
    """An anonymous or expired visitor asked for a page: send them to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class EnrolmentRequired(Exception):
    """The tenant requires a second factor the user has not enrolled yet."""


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str  # English message id, translated in the template
    icon: str
    permission: Permission | None


# The main navigation, in order; an entry shows only to users holding its permission.
NAVIGATION: tuple[NavItem, ...] = (
    NavItem("/", "Overview", "home", None),
    NavItem("/sites", "Sites", "map", Permission.site_read),
    NavItem("/devices", "Devices", "device", Permission.device_read),
    NavItem("/alarms", "Alarms", "bell", Permission.alarm_read),
    NavItem("/maintenance", "Maintenance", "wrench", Permission.maintenance_read),
    NavItem("/tickets", "Support", "lifebuoy", Permission.ticket_read),
    NavItem("/onboarding", "Add device", "plus", Permission.device_write),
    # Every role may manage its own API tokens there; the page shows only the cards one may use.
    NavItem("/manage", "Management", "users", Permission.own_tokens),
)


def _authenticate_page(request: Request) -> Principal:
    try:
        return _load_request_principal(request)
    except Problem as problem:
        if problem.status == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target) from problem
        raise


async def page_principal(request: Request) -> Principal:
    principal = await run_in_threadpool(_authenticate_page, request)
    current_actor.set(Actor(principal.user_id, principal.tenant_id, principal.email, client_ip(request)))
    if principal.needs_second_factor_enrollment and not request.url.path.startswith("/account"):
        raise EnrolmentRequired()
    request.state.principal = principal
    return principal


def page(permission: Permission) -> Any:
    """Dependency marker for a page: like `requires`, but anonymous visitors go to the login page."""

    def dependency(request: Request, principal: Principal = Depends(page_principal)) -> Iterator[Access]:
        yield from _open_scoped(request, principal, permission)

    dependency.permission = permission  # type: ignore[attr-defined]
    return Depends(dependency)


def login_url(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="/")


def _seconds_left(principal: Principal | None) -> int | None:
    if principal is None or principal.session_ends_at is None:
        return None
    return max(0, int((principal.session_ends_at - clock.now()).total_seconds()))


def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    """Render a page or fragment with the principal, CSRF token, `can()` and gettext for its language."""
    principal: Principal | None = getattr(request.state, "principal", None)
    language = i18n.negotiate(request, principal.language if principal else None)
    catalogue = i18n.translations(language)
    values: dict[str, Any] = {
        "principal": principal,
        "csrf_token": principal.csrf_token if principal else "",
        # A browser session's time left without further activity; None for API tokens and login pages.
        "session_seconds_left": _seconds_left(principal),
        "can": (lambda permission: principal is not None and principal.has(Permission(permission))),
        "language": language,
        "languages": i18n.LANGUAGES,
        "navigation": [item for item in NAVIGATION if item.permission is None or (principal and principal.has(item.permission))],
        "version": __version__,
        "settings": request.app.state.settings,
        "is_fragment": request.headers.get("hx-request") == "true",
        "gettext": catalogue.gettext,
        "ngettext": catalogue.ngettext,
        "_": catalogue.gettext,
    }
    values.update(context or {})
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def is_page_request(request: Request) -> bool:
    """Requests the portal answers with HTML rather than problem+json."""
    return not request.url.path.startswith(("/api/", "/healthz", "/static/"))
