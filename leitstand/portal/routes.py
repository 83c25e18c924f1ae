"""Mounts the portal on the application: its pages, its static files and its error pages."""

from __future__ import annotations

from pathlib import PurePath

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import Scope

from leitstand import i18n
from leitstand.portal import (
    account,
    alarms,
    dashboard,
    dataexport,
    device_bulk,
    devices,
    login,
    maintenance,
    manage,
    notifications,
    onboarding,
    password,
    pwa,
    sites,
    support,
)
from leitstand.portal.pages import (
    PORTAL_DIR, EnrolmentRequired, LoginRequired, is_page_request, login_url, page_language, render,
)
from leitstand.web.errors import ProblemText

# Every area's pages; each module owns one router.
PORTAL_ROUTERS: tuple[APIRouter, ...] = (
    login.router,
    password.router,
    dashboard.router,
    sites.router,
    device_bulk.router,  # before devices.router: /devices/bulk is no /devices/{device_id}
    devices.router,
    onboarding.router,
    alarms.router,
    maintenance.router,
    support.router,
    notifications.router,
    manage.router,
    dataexport.router,
    account.router,
    pwa.router,
)


class PortalErrorPages:
    """Errors on portal pages are pages too: a friendly 403/404, never a JSON document."""

    def wants_page(self, request: Request) -> bool:
        return is_page_request(request)

    def __call__(self, request: Request, status: int, title: ProblemText, detail: ProblemText) -> Response:
        # The problem's texts are message ids (with their values): put into the page's language here.
        language = page_language(request)
        texts = {"title": i18n.in_language(title, language), "detail": i18n.in_language(detail, language)}
        return render(request, "layout/error.html", {"status": status, **texts}, status_code=status)


def _redirect(request: Request, target: str) -> Response:
    # HTMX follows HX-Redirect with a full page load; a plain redirect would land inside a fragment.
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


class StaticAssets(StaticFiles):
    """The built assets. Dot-files (the build marker `.built`, a stray `.git`) stay private (ASVS 4.3.2).

    Directories are never listed: that is StaticFiles' own behaviour without `html=True`.
    """

    async def get_response(self, path: str, scope: Scope) -> Response:
        if any(part.startswith(".") for part in PurePath(path).parts):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def install_portal(app: FastAPI) -> None:
    static_dir = PORTAL_DIR / "static"
    static_dir.mkdir(exist_ok=True)
    app.mount("/static", StaticAssets(directory=static_dir), name="static")
    for router in PORTAL_ROUTERS:
        app.include_router(router, include_in_schema=False)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, error: LoginRequired) -> Response:
        return _redirect(request, login_url(error.next_url))

    @app.exception_handler(EnrolmentRequired)
    async def _enrolment_required(request: Request, error: EnrolmentRequired) -> Response:
        return _redirect(request, "/account?enrol=1")
