"""What every portal page shares: the page dependency, the templates and `render`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context
from sqlalchemy import select
from starlette.datastructures import FormData

from leitstand import __version__, formats
from leitstand.audit.recorder import Actor, current_actor
from leitstand.auth import password_policy
from leitstand.auth.principal import Principal
from leitstand.clock import clock
from leitstand import i18n
from leitstand.permissions import Permission
from leitstand.sites.models import Site
from leitstand.tenancy.scope import bind_scope
from leitstand.web.deps import Access, _load_request_principal, _open_scoped, client_ip, get_session_factory
from leitstand.web.errors import Problem

FORM_CSRF_FIELD = "csrf_token"

PORTAL_DIR = Path(__file__).parent
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(PORTAL_DIR / "templates"), autoescape=True, extensions=["jinja2.ext.i18n"])
)
# New-password fields show the rule from where it is enforced.
templates.env.globals["password_rule"] = password_policy.RULE


def _page_zone(context: Any) -> str:
    """The zone a page shows times in: the route's `time_zone` (the viewer's organisation's),
    else the installation's default."""
    return context.get("time_zone") or context["settings"].default_time_zone


# Dates, times and numbers in the page's language (see leitstand.formats):
# {{ at|moment }}, {{ day|day }}, {{ value|number(1) }}, {{ value|quantity(unit) }}.
templates.env.filters.update({
    "moment": pass_context(lambda context, at, seconds=False, empty="":
                           formats.format_moment(at, _page_zone(context), context["language"], seconds=seconds, empty=empty)),
    "day": pass_context(lambda context, value, empty="": formats.format_day(value, context["language"], empty=empty)),
    # {{ start|interval(end) }}: "10:00–10:15"
    "interval": pass_context(lambda context, start, end, empty="":
                             formats.format_interval(start, end, _page_zone(context), context["language"], empty=empty)),
    "number": pass_context(lambda context, value, digits=0, empty="": formats.format_number(value, context["language"], digits, empty=empty)),
    "quantity": pass_context(lambda context, value, unit, digits=None, empty="":
                             formats.format_quantity(value, unit, context["language"], digits, empty=empty)),
})


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
    # For entries that may lead to an empty page although the permission is held.
    leads_somewhere: Callable[[Request, Principal], bool] | None = None

    def is_current(self, path: str) -> bool:
        """Whether the page at `path` belongs to this entry: its own page or one below it."""
        return path == self.href or (self.href != "/" and path.startswith(self.href + "/"))


def _sees_a_site(request: Request, principal: Principal) -> bool:
    """An end customer holds `site.read` but may see no site at all (only devices shared with
    them): the sites entry would lead to an empty map."""
    with bind_scope(get_session_factory(request)(), principal.scope_for(Permission.site_read)) as db:
        return db.scalar(select(Site.id).limit(1)) is not None


# The main navigation, in order; an entry shows only to users holding its permission.
NAVIGATION: tuple[NavItem, ...] = (
    NavItem("/", "Overview", "home", None),
    NavItem("/sites", "Sites", "map", Permission.site_read, _sees_a_site),
    NavItem("/devices", "Devices", "device", Permission.device_read),
    NavItem("/alarms", "Alarms", "bell", Permission.alarm_read),
    NavItem("/maintenance", "Maintenance", "wrench", Permission.maintenance_read),
    NavItem("/tickets", "Support", "lifebuoy", Permission.ticket_read),
    NavItem("/onboarding", "Add device", "plus", Permission.device_write),
    # Every role may manage its own API tokens there; the page shows only the cards one may use.
    NavItem("/manage", "Management", "users", Permission.own_tokens),
)

# A phone's bottom bar: at most this many entries; when there are more, the last is "More",
# which opens the rest. The bar keeps the entries used most often, in this order.
TAB_BAR_SIZE = 5
TAB_BAR_FAVOURITES = ("/", "/devices", "/alarms", "/maintenance", "/tickets")


def tab_bar(navigation: list[NavItem]) -> tuple[list[NavItem], list[NavItem]]:
    """Split a user's navigation into the phone's bottom bar and what "More" holds (in the
    navigation's order)."""
    if len(navigation) <= TAB_BAR_SIZE:
        return list(navigation), []
    rank = {href: place for place, href in enumerate(TAB_BAR_FAVOURITES)}
    by_use = sorted(navigation, key=lambda item: rank.get(item.href, len(rank)))  # stable: ties keep their order
    on_bar = by_use[:TAB_BAR_SIZE - 1]
    return on_bar, [item for item in navigation if item not in on_bar]


templates.env.globals["tab_bar"] = tab_bar


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


async def posted_form(request: Request) -> FormData:
    """The body of a plain HTML form post; its `csrf_token` field stands in for the CSRF header."""
    form = await request.form()
    token = form.get(FORM_CSRF_FIELD)
    request.state.form_csrf_token = token if isinstance(token, str) else None
    return form


async def form_page_principal(request: Request, form: FormData = Depends(posted_form)) -> Principal:
    # Takes the form only so its token is read before the session's CSRF check runs.
    return await page_principal(request)


def form_page(permission: Permission) -> Any:
    """Like `page`, for a page that takes a plain HTML form post (works without JavaScript)."""

    def dependency(request: Request, principal: Principal = Depends(form_page_principal)) -> Iterator[Access]:
        yield from _open_scoped(request, principal, permission)

    dependency.permission = permission  # type: ignore[attr-defined]
    return Depends(dependency)


def login_url(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="/")


def _navigation(request: Request, principal: Principal | None) -> list[NavItem]:
    return [item for item in NAVIGATION
            if item.permission is None or (principal is not None and principal.has(item.permission)
                                           and (item.leads_somewhere is None or item.leads_somewhere(request, principal)))]


def _seconds_left(principal: Principal | None) -> int | None:
    if principal is None or principal.session_ends_at is None:
        return None
    return max(0, int((principal.session_ends_at - clock.now()).total_seconds()))


def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    """Render a page or fragment with the principal, CSRF token, `can()` and gettext for its language."""
    principal: Principal | None = getattr(request.state, "principal", None)
    language = page_language(request)
    catalogue = i18n.translations(language)
    values: dict[str, Any] = {
        "principal": principal,
        "csrf_token": principal.csrf_token if principal else "",
        # A browser session's time left without further activity; None for API tokens and login pages.
        "session_seconds_left": _seconds_left(principal),
        "can": (lambda permission: principal is not None and principal.has(Permission(permission))),
        "language": language,
        "languages": i18n.LANGUAGES,
        # Called by the layout only, so fragments never pay for the entries' checks.
        "navigation": lambda: _navigation(request, principal),
        "version": __version__,
        "settings": request.app.state.settings,
        "is_fragment": request.headers.get("hx-request") == "true",
        "gettext": catalogue.gettext,
        "ngettext": catalogue.ngettext,
        "_": catalogue.gettext,
    }
    values.update(context or {})
    return templates.TemplateResponse(request, template, values, status_code=status_code)


def page_language(request: Request) -> str:
    """The language a page is rendered in (see i18n.negotiate)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return i18n.negotiate(request, principal.language if principal else None)


def is_page_request(request: Request) -> bool:
    """Requests the portal answers with HTML rather than problem+json."""
    return not request.url.path.startswith(("/api/", "/healthz", "/static/"))
