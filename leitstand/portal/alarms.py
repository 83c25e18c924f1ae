"""Portal pages: alarms.

/alarms                       the alarm list with filters; the table is a fragment refreshed live
/alarms/table                 fragment: the list's table
/alarms/{id}                  one alarm: troubleshooting steps, comments, acknowledge / clear / assign
/alarms/{id}/panel            fragment: the alarm's state and actions, refreshed live
/alarms/tile                  fragment: the dashboard's alarms tile (open alarms by severity)
/alarms/device/{device_id}    fragment: a device's open alarms with their steps, for the device page
/alarms/rules                 default and tenant rules; an editor for those with alarm_rule.write

Every change goes through the JSON API (/api/v1/alarms/..., /api/v1/alarm-rules).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from leitstand.access.roles import Permission
from leitstand.alarms.api import alarms_query
from leitstand.alarms.models import Alarm, AlarmComment, AlarmRule, AlarmState
from leitstand.alarms.rules import default_rules
from leitstand.alarms.service import SEVERITIES
from leitstand.devices.models import Device
from leitstand.devicetypes.spec import shipped_types
from leitstand.portal import dashboard_queries, sites_queries
from leitstand.portal.pages import page, render
from leitstand.sites.models import Site
from leitstand.users.models import User
from leitstand.web.crud import get_visible
from leitstand.web.deps import Access
from leitstand.web.types import ObjectId

router = APIRouter()
Reader = Annotated[Access, page(Permission.alarm_read)]
PAGE_SIZE = 50
STATES = ("open", "active", "acknowledged", "cleared")


def _common(access: Access) -> dict[str, Any]:
    return {"when": sites_queries.time_formatter(access.settings.default_time_zone)}


def _filters(request: Request) -> dict[str, Any]:
    """The list's filters from the URL; nonsense is ignored rather than an error page."""
    params = request.query_params
    state = params.get("state", "open")
    severity = params.get("severity", "")
    site = params.get("site", "")
    return {
        "state": state if state in STATES else "open",
        "severity": severity if severity in SEVERITIES else "",
        "site": int(site) if site.isdigit() and 0 < int(site) < 2**31 else None,
    }


def _table(access: Access, filters: dict[str, Any]) -> dict[str, Any]:
    db = access.db
    site_id = filters["site"] if filters["site"] and db.get(Site, filters["site"]) else None
    statement = alarms_query(db, state=filters["state"], severity=filters["severity"] or None, site_id=site_id)
    alarms = list(db.scalars(statement.limit(PAGE_SIZE)))
    device_names = dict(db.execute(select(Device.id, Device.name).where(Device.id.in_({a.device_id for a in alarms}))).all())
    return {"alarms": alarms, "device_names": device_names, "filters": filters, **_common(access)}


@router.get("/alarms", response_class=HTMLResponse)
def alarm_list(request: Request, access: Reader) -> HTMLResponse:
    filters = _filters(request)
    sites = list(access.db.scalars(select(Site).where(Site.parent_id.is_(None)).order_by(Site.name)))
    return render(request, "alarms/index.html", {**_table(access, filters), "sites": sites,
                                                 "severities": SEVERITIES, "states": STATES})


@router.get("/alarms/table", response_class=HTMLResponse)
def alarm_table(request: Request, access: Reader) -> HTMLResponse:
    return render(request, "alarms/_table.html", _table(access, _filters(request)))


@router.get("/alarms/tile", response_class=HTMLResponse)
def alarm_tile(request: Request, access: Reader) -> HTMLResponse:
    counts = dashboard_queries.open_alarms_by_severity(access.db)
    latest = list(access.db.scalars(alarms_query(access.db, state="open").limit(3)))
    return render(request, "alarms/_tile.html", {"counts": counts, "total": sum(counts.values()), "latest": latest})


@router.get("/alarms/rules", response_class=HTMLResponse)
def rule_list(request: Request, access: Reader) -> HTMLResponse:
    types = shipped_types()
    defaults = {type_key: default_rules(type_key) for type_key in sorted(types)}
    rules = list(access.db.scalars(select(AlarmRule).order_by(AlarmRule.type_key, AlarmRule.key, AlarmRule.id)))
    return render(request, "alarms/rules.html", {
        "defaults": defaults, "rules": rules, "types": types, "severities": SEVERITIES,
        "tenant_id": access.principal.tenant_id,
    })


@router.get("/alarms/device/{device_id}", response_class=HTMLResponse)
def device_alarms(device_id: ObjectId, request: Request, access: Reader) -> HTMLResponse:
    alarms = list(access.db.scalars(alarms_query(access.db, state="open", device_id=device_id).limit(20)))
    return render(request, "alarms/_device_list.html", {"alarms": alarms, **_common(access)})


def _detail(access: Access, alarm_id: int) -> dict[str, Any]:
    db = access.db
    alarm = get_visible(db, Alarm, alarm_id, "alarm")
    device = db.get(Device, alarm.device_id)
    site = db.get(Site, alarm.site_id) if alarm.site_id else None
    comments = list(db.scalars(select(AlarmComment).where(AlarmComment.alarm_id == alarm.id).order_by(AlarmComment.id)))
    # People are named only if the viewer may see them; otherwise the id stays unnamed.
    wanted = {c.author_id for c in comments} | {alarm.assignee_id, alarm.acknowledged_by_id, alarm.cleared_by_id}
    people = dict(db.execute(select(User.id, User.display_name).where(User.id.in_(wanted - {None}))).all())
    assignable = list(db.scalars(select(User).where(User.is_active.is_(True)).order_by(User.display_name).limit(200)))
    return {"alarm": alarm, "device": device, "site": site, "comments": comments, "people": people,
            "assignable": assignable, "is_open": alarm.state != AlarmState.cleared, **_common(access)}


@router.get("/alarms/{alarm_id}", response_class=HTMLResponse)
def alarm_page(alarm_id: ObjectId, request: Request, access: Reader) -> HTMLResponse:
    return render(request, "alarms/show.html", _detail(access, alarm_id))


@router.get("/alarms/{alarm_id}/panel", response_class=HTMLResponse)
def alarm_panel(alarm_id: ObjectId, request: Request, access: Reader) -> HTMLResponse:
    return render(request, "alarms/_panel.html", _detail(access, alarm_id))
