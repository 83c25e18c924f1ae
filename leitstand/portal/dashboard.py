"""Portal pages: the start dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from leitstand.access.roles import Permission
from leitstand.portal.pages import page, render
from leitstand.web.deps import Access

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, access: Annotated[Access, page(Permission.site_read)]) -> HTMLResponse:
    return render(request, "dashboard/index.html")
