"""Portal pages: login (password, then the second factor) and logout.

The page only draws the forms; frontend/src/login.js talks to the JSON login API
(`/api/v1/auth/login` and its second-factor steps), so there is one login implementation.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from leitstand.auth.principal import Principal
from leitstand.portal.pages import page_principal, render
from leitstand.web.deps import _load_request_principal
from leitstand.web.errors import Problem

router = APIRouter()
LOGIN_PATH = "/login"


def safe_next(target: str | None) -> str:
    """Where to go after the login: a path on this site only, never another host.

    Anything that a browser could read as a foreign URL ("//host", "/\\host", "https:...",
    control characters) falls back to the overview.
    """
    if not target:
        return "/"
    decoded = unquote(target)
    if (
        not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or decoded.startswith(("//", "/\\"))
        or "\\" in decoded
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in decoded)
        or target.split("?")[0].rstrip("/") == LOGIN_PATH
    ):
        return "/"
    return target


def _signed_in(request: Request) -> Principal | None:
    try:
        return _load_request_principal(request)
    except Problem:
        return None


@router.get(LOGIN_PATH)
def login_page(
    request: Request,
    next: Annotated[str | None, Query(max_length=2000)] = None,  # noqa: A002 - the query parameter's name
    done: Annotated[str | None, Query(max_length=40, description="The mailed link just used: a notice to show.")] = None,
) -> Response:
    target = safe_next(next)
    principal = _signed_in(request)
    if principal is not None:
        return RedirectResponse("/account?enrol=1" if principal.needs_second_factor_enrollment else target, status_code=303)
    return render(request, "login/login.html", {"next_url": target, "done": done})


@router.get("/logout")
def logout_page(request: Request, principal: Annotated[Principal, Depends(page_principal)]) -> Response:
    """A page with a logout button, for links and bookmarks; the menu logs out directly."""
    return render(request, "login/logout.html")
