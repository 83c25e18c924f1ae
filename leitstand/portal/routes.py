"""Mounts the portal on the application: its pages, its static files and its error pages."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from leitstand.portal import (
    account,
    alarms,
    dashboard,
    dataexport,
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
from leitstand.portal.pages import PORTAL_DIR, EnrolmentRequired, LoginRequired, is_page_request, login_url, render

# Every area's pages; each module owns one router.
PORTAL_ROUTERS: tuple[APIRouter, ...] = (
    login.router,
    password.router,
    dashboard.router,
    sites.router,
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

    def __call__(self, request: Request, status: int, title: str, detail: str) -> Response:
        return render(request, "layout/error.html", {"status": status, "title": title, "detail": detail}, status_code=status)


def _redirect(request: Request, target: str) -> Response:
    # HTMX follows HX-Redirect with a full page load; a plain redirect would land inside a fragment.
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def install_portal(app: FastAPI) -> None:
    static_dir = PORTAL_DIR / "static"
    static_dir.mkdir(exist_ok=True)
    app.mount("/static", StaticFiles(directory=static_dir), name="static")
    for router in PORTAL_ROUTERS:
        app.include_router(router, include_in_schema=False)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, error: LoginRequired) -> Response:
        return _redirect(request, login_url(error.next_url))

    @app.exception_handler(EnrolmentRequired)
    async def _enrolment_required(request: Request, error: EnrolmentRequired) -> Response:
        return _redirect(request, "/account?enrol=1")
