"""Portal pages for setting a password without being logged in.

- `/password-reset` (the login page's "Forgot your password?"): ask for a reset link by e-mail.
  The answer is the same whether the address has an account or not.
- `/password-reset?token=…` and `/invitation?token=…`: the pages the mails link to
  (leitstand.users.service.LINK_PATHS), a new password entered twice. A link that is unknown,
  used, replaced or expired gets a page saying so, with the way to a new one.

As on the login page, the browser sends the forms to the JSON API (frontend/src/password.js):
`POST /api/v1/auth/password-reset`, `…/password-reset/confirm` and `…/invitation/accept`. The
password rule is the API's; the page shows it from the API's validation message. Afterwards the
browser goes to the login page: a mailed link proves the mailbox, not the second factor, so
it never logs in by itself.

The token travels in the URL, so these pages answer with TOKEN_PAGE_HEADERS: no Referer
leaves them, not even to the page's own assets, and no cache keeps them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from leitstand.portal.pages import render
from leitstand.tenancy.scope import system_session
from leitstand.users.service import LINK_PATHS, LinkPurpose, LinkRefused, usable_link
from leitstand.web.deps import get_session_factory

router = APIRouter()
RESET_PATH = "/" + LINK_PATHS[LinkPurpose.password_reset]
INVITATION_PATH = "/" + LINK_PATHS[LinkPurpose.invitation]
# Set on every response of these pages; a site-wide security-header middleware must keep them
# (set its defaults only where a response has no such header yet).
TOKEN_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
# Where the browser sends the new password, per kind of link.
REDEEM_ENDPOINTS = {
    LinkPurpose.password_reset: "/api/v1/auth/password-reset/confirm",
    LinkPurpose.invitation: "/api/v1/auth/invitation/accept",
}
Token = Annotated[str | None, Query(description="The token of a mailed link.")]


@router.get(RESET_PATH)
def password_reset_page(request: Request, token: Token = None) -> Response:
    if token is None:
        return _token_page(render(request, "login/password_reset_request.html"))
    return _link_page(request, LinkPurpose.password_reset, token)


@router.get(INVITATION_PATH)
def invitation_page(request: Request, token: Token = None) -> Response:
    return _link_page(request, LinkPurpose.invitation, token or "")


def _link_page(request: Request, purpose: LinkPurpose, token: str) -> Response:
    with system_session(get_session_factory(request), reason=f"open a mailed {purpose.value} link") as db:
        try:
            user = usable_link(db, purpose, token)
        except LinkRefused:
            return _token_page(render(request, "login/link_refused.html", {"purpose": purpose.value}, status_code=400))
        return _token_page(render(request, "login/set_password.html", {
            "purpose": purpose.value, "email": user.email, "name": user.display_name,
            "endpoint": REDEEM_ENDPOINTS[purpose], "done_url": f"/login?done={LINK_PATHS[purpose]}",
        }))


def _token_page(response: Response) -> Response:
    response.headers.update(TOKEN_PAGE_HEADERS)
    return response
