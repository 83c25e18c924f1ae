"""Portal page: the signed-in user's own account.

Profile, language, password, second factors (authenticator app, security keys, YubiKey OTP)
and API tokens. The page reads through the same self-service scope as `/api/v1/me`; every
change is made by the browser through that API (frontend/src/account.js and data-api forms).
When the API wants a fresh re-authentication first, account.js asks for the password (and a
second factor) in a dialog, sends it to `/api/v1/me/reauthenticate` and repeats the change.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import select

from leitstand.auth import second_factor
from leitstand.auth.models import ApiToken, WebAuthnKey, YubiKey
from leitstand.auth.principal import ACCOUNT_SCOPE, Principal
from leitstand.portal.pages import page_principal, render
from leitstand.users.models import User
from leitstand.web.deps import Access, _self_service

router = APIRouter()


def self_service_page(request: Request, principal: Annotated[Principal, Depends(page_principal)]) -> Iterator[Access]:
    """The reach of the API's /me routes (leitstand.web.deps.account), but anonymous visitors go to the login page."""
    yield from _self_service(request, principal)


SelfServicePage = Annotated[Access, Depends(self_service_page)]


def totp_qr_svg(provisioning_uri: str) -> Markup:
    """The authenticator-app QR code as inline SVG, drawn on the server (no image request carries the secret)."""
    qr = segno.make(provisioning_uri, error="m", micro=False)
    svg = qr.svg_inline(scale=4, border=2, dark="#000", light="#fff", omitsize=True)
    return Markup(svg)  # noqa: S704 - segno's own SVG from a server-made URI


@router.get("/account")
def account_page(access: SelfServicePage, request: Request) -> Response:
    user = access.db.get(User, access.principal.user_id)
    assert user is not None
    totp_setup = None
    if not user.has_totp:
        # A fresh secret for each visit; nothing is stored until the user confirms a code.
        secret, uri = second_factor.new_totp_secret(user)
        totp_setup = {"secret": secret, "uri": uri, "qr": totp_qr_svg(uri)}
    is_browser_session = access.principal.token_scopes is None
    return render(request, "account/index.html", {
        "user": user,
        "enrol": request.query_params.get("enrol") == "1" or access.principal.needs_second_factor_enrollment,
        "needs_enrolment": access.principal.needs_second_factor_enrollment,
        "has_totp": user.has_totp,
        "totp_setup": totp_setup,
        "security_keys": list(access.db.scalars(select(WebAuthnKey).order_by(WebAuthnKey.id))),
        "yubikeys": list(access.db.scalars(select(YubiKey).order_by(YubiKey.id))),
        "tokens": list(access.db.scalars(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc()))),
        "token_scopes": sorted((p.value for p in access.principal.permissions), key=str),
        "account_scope": ACCOUNT_SCOPE,
        # The API refuses tokens made by tokens, and tokens as a way around a missing second factor.
        "can_create_tokens": is_browser_session and not access.principal.needs_second_factor_enrollment,
    })
