"""Portal page: notifications — my browser's Web Push and muted sites; for administrators the
routing rules, webhooks, recent deliveries and the dead-letter list.

The page only reads; the browser changes things through the JSON API (frontend/src/notifications.js).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from leitstand.access.roles import ROLES
from leitstand.devicetypes.spec import Severity
from leitstand.notifications.api import ROUTING_RULES, WEBHOOKS
from leitstand.notifications.channels.delivery import Channel
from leitstand.notifications.models import Delivery, PushSubscription, SiteMute
from leitstand.permissions import Permission
from leitstand.portal.devices_queries import tenant_zone
from leitstand.portal.pages import page, render
from leitstand.sites.locations import location_paths, paths_of
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant
from leitstand.web.deps import Access

router = APIRouter()
RECENT = 20


@router.get("/notifications", response_class=HTMLResponse)
def notifications(request: Request, access: Annotated[Access, page(Permission.own_tokens)]) -> HTMLResponse:
    # Everyone has personal settings (token.own is every role's); the admin part needs notification.write.
    # Personal rows are filtered by owner in every scope: these are the viewer's own.
    browsers = access.db.scalars(select(PushSubscription).order_by(PushSubscription.id)).all()
    mutes = access.db.scalars(select(SiteMute)).all()
    muted = {mute.site_id for mute in mutes}
    choices: list[tuple[int, str]] = []  # sites one may mute, as (id, full path), by path
    mute_paths: dict[int, str] = {}
    if access.has(Permission.site_read):
        with access.scoped_for(Permission.site_read) as site_db:
            sites = site_db.execute(select(Site.id, Site.path).order_by(Site.path).limit(500)).all()
            paths = paths_of(site_db, sites)
            mute_paths = location_paths(site_db, muted)
        choices = sorted(((site_id, paths[site_id]) for site_id, _ in sites if site_id in paths and site_id not in muted),
                         key=lambda choice: choice[1].lower())
    context: dict[str, object] = {
        "browsers": browsers, "mutes": [(mute, mute_paths.get(mute.site_id, "—")) for mute in mutes],
        "sites": choices,
        "severities": list(Severity), "channels": list(Channel), "roles": list(ROLES.values()),
        "admin": access.has(Permission.notification_write),
        "time_zone": tenant_zone(access.db, access.principal.tenant_id, access.settings.default_time_zone),
    }
    if context["admin"]:
        with access.scoped_for(Permission.notification_write) as admin_db:
            context.update({
                # In the API's list order.
                "rules": admin_db.scalars(ROUTING_RULES.query()).all(),
                "webhooks": admin_db.scalars(WEBHOOKS.query()).all(),
                "tenants": admin_db.scalars(select(Tenant).order_by(Tenant.path).limit(200)).all(),
                "dead_letters": admin_db.scalars(select(Delivery).where(Delivery.dead_lettered.is_(True))
                                                 .order_by(Delivery.id.desc()).limit(50)).all(),
                "deliveries": admin_db.scalars(select(Delivery).order_by(Delivery.id.desc()).limit(RECENT)).all(),
            })
    return render(request, "notifications/index.html", context)
