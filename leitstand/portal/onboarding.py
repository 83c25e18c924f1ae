"""Portal pages: onboarding a device ("Add device").

The page walks through the claim: identify the device (scan its QR label
`LS1:<serial>:<claim secret>` with the camera, or type both), choose its site, confirm.
The browser then claims it through the JSON API (POST /api/v1/devices/claim) and shows
the device's credentials once. The page itself only reads: the sites the user may put a
device at, each with the organisation that will own the device.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from leitstand.permissions import Permission
from leitstand.portal.devices_queries import site_choices
from leitstand.portal.pages import page, render
from leitstand.web.deps import Access

router = APIRouter()


@router.get("/onboarding", response_class=HTMLResponse)
def onboarding(request: Request, access: Annotated[Access, page(Permission.device_write)]) -> HTMLResponse:
    # Sites reached with device.write: a device claimed there lands within what the user manages.
    return render(request, "onboarding/index.html", {"sites": site_choices(access.db)})
