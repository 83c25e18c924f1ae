"""Portal page: the signed-in user's own account.

Profile, language, password, second factors (authenticator app, security keys, YubiKey OTP),
recovery codes, the open browser sessions and API tokens. The page reads through the same self-service scope as `/api/v1/me`; every
change is made by the browser through that API (frontend/src/account.js and data-api forms).
When the API wants a fresh re-authentication first, account.js asks for the password (and a
second factor) in a dialog, sends it to `/api/v1/me/reauthenticate` and repeats the change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import select

from leitstand.accounts.models import User
from leitstand.auth import recovery_codes, second_factor
from leitstand.auth.models import ApiToken, WebAuthnKey, YubiKey
from leitstand.auth.principal import ACCOUNT_SCOPE, Principal
from leitstand.portal.devices import _language, moment_formatter
from leitstand.portal.devices_queries import tenant_zone
from leitstand.portal.pages import page_principal, render
from leitstand.users.me_api import open_sessions
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


# Browser and system names as a user agent gives them, most specific first: Edge and Opera claim
# to be Chrome, Chrome claims to be Safari, Android claims to be Linux.
BROWSERS = (("Edge", r"Edg(e|A|iOS)?/"), ("Opera", r"OPR/"), ("Firefox", r"Firefox/|FxiOS/"),
            ("Chrome", r"Chrome/|CriOS/"), ("Safari", r"Safari/"))
SYSTEMS = (("Android", r"Android"), ("iOS", r"iPhone|iPad"), ("Windows", r"Windows"), ("macOS", r"Mac OS X"),
           ("Linux", r"Linux"))


def browser_label(user_agent: str) -> str:
    """A user agent's browser and system, such as "Firefox · Windows"; its own start when neither is known."""
    browser = next((name for name, pattern in BROWSERS if re.search(pattern, user_agent)), "")
    system = next((name for name, pattern in SYSTEMS if re.search(pattern, user_agent)), "")
    return " · ".join(filter(None, (browser, system))) or user_agent[:60]


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
    time_zone = tenant_zone(access.db, user.tenant_id, access.settings.default_time_zone)
    moment = moment_formatter(time_zone, _language(request, access))
    sessions = [{"id": login.id, "browser": browser_label(login.user_agent), "user_agent": login.user_agent,
                 "source_ip": login.source_ip, "started": moment(login.created_at), "last_seen": moment(login.last_seen_at),
                 "current": login.id == access.principal.session_id} for login in open_sessions(access)]
    sessions.sort(key=lambda session: not session["current"])  # this one first, the others oldest first
    return render(request, "account/index.html", {
        "user": user,
        "time_zone": time_zone,
        "enrol": request.query_params.get("enrol") == "1" or access.principal.needs_second_factor_enrollment,
        "needs_enrolment": access.principal.needs_second_factor_enrollment,
        "has_totp": user.has_totp,
        "totp_setup": totp_setup,
        "security_keys": list(access.db.scalars(select(WebAuthnKey).order_by(WebAuthnKey.id))),
        "yubikeys": list(access.db.scalars(select(YubiKey).order_by(YubiKey.id))),
        "has_second_factor": second_factor.has_second_factor(access.db, user),
        "recovery_codes": {"remaining": recovery_codes.unused_count(access.db, user.id),
                           "created_at": recovery_codes.set_created_at(access.db, user.id)},
        "sessions": sessions,
        "tokens": list(access.db.scalars(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc()))),
        "token_scopes": sorted((p.value for p in access.principal.permissions), key=str),
        "account_scope": ACCOUNT_SCOPE,
        # The API refuses tokens made by tokens, and tokens as a way around a missing second factor.
        "can_create_tokens": is_browser_session and not access.principal.needs_second_factor_enrollment,
    })
