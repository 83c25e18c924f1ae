"""Portal pages: alarms.

/alarms                       the alarm list with filters; the table is a fragment refreshed live
/alarms/table                 fragment: the list's table
/alarms/{id}                  one alarm: troubleshooting steps, comments, acknowledge / clear / assign
/alarms/{id}/panel            fragment: the alarm's state and actions, refreshed live
/alarms/tile                  fragment: the dashboard's alarms tile (open alarms by severity)
/alarms/device/{device_id}    fragment: a device's open alarms with their steps, for the device page
/alarms/rules                 default and tenant rules; the rule builder for those with alarm_rule.write
/alarms/rules (POST)          the builder's plain form post: a threshold rule per chosen site and device
/alarms/rules/preview         JSON: where a threshold rule would have fired on a device's last 7 days

Every change goes through the JSON API (/api/v1/alarms/..., /api/v1/alarm-rules), but for the
rule builder, which must work without JavaScript: its post is checked by the same code as the API's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import case, func, select
from starlette.datastructures import FormData

from leitstand import i18n
from leitstand.accounts.models import User
from leitstand.alarms.api import ALARM_RULES, add_alarm_rule, alarms_query
from leitstand.alarms.models import Alarm, AlarmComment, AlarmState, TargetKind
from leitstand.alarms.preview import firing_times
from leitstand.alarms.rules import RULE_KEY_PATTERN, Threshold, default_rules, rule_book
from leitstand.alarms.schemas import AlarmRuleCreate
from leitstand.alarms.service import SEVERITIES, SEVERITY_RANK
from leitstand.clock import clock
from leitstand.devices.models import Device
from leitstand.devicetypes.spec import DeviceTypeSpec, MetricKind, TelemetryKey, spec_for, type_keys
from leitstand.permissions import Permission
from leitstand.portal import dashboard_queries, sites_queries
from leitstand.portal import devices_queries as q
from leitstand.portal.listing import MAX_EXPORT_ROWS, CsvColumn, Sortable, csv_download, export_link
from leitstand.portal.listing import msgid as _
from leitstand.portal.pages import form_page, page, page_language, posted_form, render
from leitstand.sites.locations import location_path, location_paths
from leitstand.sites.models import Site
from leitstand.telemetry.queries import iter_raw_points
from leitstand.web.crud import get_visible
from leitstand.web.deps import Access
from leitstand.web.errors import Problem, invalid
from leitstand.web.types import MAX_ID, ObjectId

router = APIRouter()
Reader = Annotated[Access, page(Permission.alarm_read)]
PAGE_SIZE = 50
STATES = ("open", "active", "acknowledged", "cleared")


def _common(access: Access, request: Request) -> dict[str, Any]:
    return {"when": sites_queries.time_formatter(access.settings.default_time_zone, page_language(request))}


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


ALARM_SORT = Sortable({
    "severity": case(SEVERITY_RANK, value=Alarm.severity, else_=len(SEVERITY_RANK)),  # the most severe first
    "alarm": func.lower(Alarm.title),
    "device": select(func.lower(Device.name)).where(Device.id == Alarm.device_id).scalar_subquery(),
    "state": Alarm.state, "raised": Alarm.raised_at, "occurrences": Alarm.occurrences,
}, default="raised", default_descending=True, tiebreak=Alarm.id)


def _selected(access: Access, request: Request, filters: dict[str, Any], limit: int) -> tuple[list[Alarm], dict[int, str]]:
    """The alarms the filters select in the chosen order, with their devices' names."""
    db = access.db
    site_id = filters["site"] if filters["site"] and db.get(Site, filters["site"]) else None
    statement = alarms_query(db, state=filters["state"], severity=filters["severity"] or None, site_id=site_id)
    alarms = list(db.scalars(ALARM_SORT.chosen(request).apply(statement).limit(limit)))
    device_names = dict(db.execute(select(Device.id, Device.name).where(Device.id.in_({a.device_id for a in alarms}))).all())
    return alarms, device_names


def _table(access: Access, request: Request, filters: dict[str, Any]) -> dict[str, Any]:
    alarms, device_names = _selected(access, request, filters, PAGE_SIZE)
    return {"alarms": alarms, "device_names": device_names, "filters": filters, "sort": ALARM_SORT.chosen(request),
            "locations": location_paths(access.db, {alarm.site_id for alarm in alarms}),
            **_common(access, request)}


@router.get("/alarms", response_class=HTMLResponse)
def alarm_list(request: Request, access: Reader) -> HTMLResponse:
    filters = _filters(request)
    sites = list(access.db.scalars(select(Site).where(Site.parent_id.is_(None)).order_by(Site.name)))
    return render(request, "alarms/index.html", {**_table(access, request, filters), "sites": sites,
                                                 "severities": SEVERITIES, "states": STATES,
                                                 "export_href": export_link(request, "/alarms/export.csv")})


@router.get("/alarms/table", response_class=HTMLResponse)
def alarm_table(request: Request, access: Reader) -> HTMLResponse:
    return render(request, "alarms/_table.html", _table(access, request, _filters(request)))


@router.get("/alarms/export.csv")
def alarm_export(request: Request, access: Reader) -> Response:
    """The list as CSV: every alarm its filters select (not only the first page), as the table shows it."""
    language = i18n.negotiate(request, access.principal.language)
    gettext = i18n.translations(language).gettext
    when = _common(access, request)["when"]
    alarms, device_names = _selected(access, request, _filters(request), MAX_EXPORT_ROWS)
    locations = location_paths(access.db, {alarm.site_id for alarm in alarms})
    columns = [
        CsvColumn(_("Severity"), lambda alarm: gettext(alarm.severity)),
        CsvColumn(_("Alarm"), lambda alarm: alarm.title_de if language == "de" and alarm.title_de else alarm.title),
        CsvColumn(_("Device"), lambda alarm: device_names.get(alarm.device_id, alarm.device_id)),
        CsvColumn(_("Location"), lambda alarm: locations.get(alarm.site_id, "")),
        CsvColumn(_("State"), lambda alarm: gettext(alarm.state)),
        CsvColumn(_("Raised"), lambda alarm: when(alarm.raised_at)),
        CsvColumn(_("Occurrences"), lambda alarm: alarm.occurrences),
    ]
    return csv_download(request, access, "alarms", _("Alarms"), columns, alarms)


@router.get("/alarms/tile", response_class=HTMLResponse)
def alarm_tile(request: Request, access: Reader) -> HTMLResponse:
    counts = dashboard_queries.open_alarms_by_severity(access.db)
    latest = list(access.db.scalars(alarms_query(access.db, state="open").limit(3)))
    return render(request, "alarms/_tile.html", {"counts": counts, "total": sum(counts.values()), "latest": latest})


def _rules_page(request: Request, access: Access, builder: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    types = {type_key: spec_for(type_key) for type_key in type_keys()}
    defaults = {type_key: default_rules(type_key) for type_key in types}
    rules = list(access.db.scalars(ALARM_RULES.query()))  # as the API lists them
    saved = request.query_params.get("saved", "")
    language = page_language(request)
    choices = _builder_choices(access, language)
    return render(request, "alarms/rules.html", {
        "defaults": defaults, "rules": rules, "types": types, "severities": SEVERITIES,
        "tenant_id": access.principal.tenant_id, "saved": int(saved) if saved.isdigit() and len(saved) < 4 else 0,
        "builder": builder, "operators": OPERATORS, **choices,
        # The list names a rule's target and metric as the builder does, rather than by ID and key.
        "site_labels": {site_id: label for site_id, label, _ in choices["builder_sites"]},
        "device_labels": {device_id: name for device_id, name, _, _ in choices["builder_devices"]},
        "metric_choices": {(metric.type_key, metric.key): metric for metric in choices["builder_metrics"]},
        "decimal": lambda value: f"{value:g}".replace(".", ",") if language == "de" else f"{value:g}",
    }, status_code=status_code)


@router.get("/alarms/rules", response_class=HTMLResponse)
def rule_list(request: Request, access: Reader) -> HTMLResponse:
    return _rules_page(request, access, {"values": {"operator": ">", "enabled": True}, "errors": {}})


# --- the rule builder: a threshold rule from choices, not JSON ------------------------------

RuleWriter = Annotated[Access, form_page(Permission.alarm_rule_write)]
OPERATORS = (">", "<")  # what a Threshold condition knows
PREVIEW_WINDOW = timedelta(days=7)
MAX_CHOICES = 500
MAX_LISTED_FIRINGS = 50
DECIMAL = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")


@dataclass(frozen=True)
class MetricChoice:
    type_key: str
    key: str
    label: str
    unit: str

    @property
    def caption(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


def thresholdable_keys(spec: DeviceTypeSpec | None) -> list[TelemetryKey]:
    """The metrics a threshold can watch: numbers (as `check_condition` demands)."""
    return [key for key in spec.telemetry if key.kind in (MetricKind.gauge, MetricKind.counter)] if spec else []


def parse_decimal(text: str) -> float | None:
    """A number as people type it: German decimal comma or point; None for anything else."""
    text = text.strip().replace(" ", "")
    return float(text.replace(",", ".")) if DECIMAL.match(text) else None


def _builder_choices(access: Access, language: str) -> dict[str, Any]:
    """The builder's lists: types with numeric metrics, visible sites by full path, devices by name."""
    db = access.db
    specs = {key: spec for key, spec in sorted(q.type_specs(db).items()) if thresholdable_keys(spec)}
    metrics = [MetricChoice(type_key, key.key, q.text_in(key.label, language), key.unit)
               for type_key, spec in specs.items() for key in thresholdable_keys(spec)]
    sites = q.site_choices(db)
    devices = db.execute(select(Device.id, Device.name, Device.type_key, Device.site_id)
                         .where(Device.type_key.in_(list(specs))).order_by(Device.name, Device.id).limit(MAX_CHOICES)).all()
    # Materialised paths, so the page's script can tell which devices lie at a chosen site.
    wanted = {site_id for site_id, _, _ in sites} | {device.site_id for device in devices if device.site_id}
    site_paths = dict(db.execute(select(Site.id, Site.path).where(Site.id.in_(wanted))).all()) if wanted else {}
    return {
        "builder_types": {key: q.text_in(spec.name, language) for key, spec in specs.items()},
        "builder_metrics": metrics,
        "builder_sites": [(site_id, label, site_paths.get(site_id, "")) for site_id, label, _ in sites],
        "builder_devices": [(device_id, name, type_key, site_paths.get(site_id, "") if site_id else "")
                            for device_id, name, type_key, site_id in devices],
    }


def _ids(form: FormData, field: str) -> list[int]:
    return [int(value) for value in form.getlist(field) if isinstance(value, str) and value.isdigit() and 0 < int(value) <= MAX_ID]


def _read_builder(form: FormData, choices: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], list[AlarmRuleCreate]]:
    """The form's values as typed (to show again), its errors (message ids) and, if none, the rules to add."""
    text = {field: str(form.get(field) or "").strip() for field in ("name", "key", "type_key", "metric", "operator", "threshold", "severity")}
    values: dict[str, Any] = {**text, "site_ids": _ids(form, "site_id"), "device_ids": _ids(form, "device_id"),
                              "enabled": form.get("enabled") is not None}
    errors: dict[str, str] = {}
    type_key, metric = text["type_key"], text["metric"]
    if not text["name"]:
        errors["name"] = "Give the rule a name."
    elif len(text["name"]) > 200:
        errors["name"] = "At most 200 characters."
    if type_key not in choices["builder_types"]:
        errors["type_key"] = "Choose a device type."
    elif not any(choice.type_key == type_key and choice.key == metric for choice in choices["builder_metrics"]):
        errors["metric"] = "Choose a metric of the chosen device type."
    if text["operator"] not in OPERATORS:
        errors["operator"] = "Choose above or below."
    threshold = parse_decimal(text["threshold"])
    if threshold is None or abs(threshold) > 1e12:
        errors["threshold"] = "Enter a number, e.g. 30.5."
    if text["severity"] not in SEVERITIES:
        errors["severity"] = "Choose a severity."
    key = text["key"] or (f"{metric}.{'above' if text['operator'] == '>' else 'below'}" if metric else "")
    if text["key"] and not re.match(RULE_KEY_PATTERN, text["key"]):
        errors["key"] = "Lower-case letters, digits and . _ - only, starting with a letter."
    visible_sites = {site_id for site_id, _, _ in choices["builder_sites"]}
    device_types = {device_id: device_type for device_id, _, device_type, _ in choices["builder_devices"]}
    if any(site_id not in visible_sites for site_id in values["site_ids"]):
        errors["site_id"] = "Choose sites from the list."
    if any(device_id not in device_types for device_id in values["device_ids"]):
        errors["device_id"] = "Choose devices from the list."
    elif "type_key" not in errors and any(device_types[device_id] != type_key for device_id in values["device_ids"]):
        errors["device_id"] = "Choose devices of the chosen device type only."
    if errors:
        return values, errors, []
    condition = Threshold(key=metric, operator=text["operator"], value=threshold)  # type: ignore[arg-type]
    common = {"key": key, "name": text["name"], "enabled": values["enabled"], "severity": text["severity"],
              "type_key": type_key, "condition": condition.model_dump()}
    targets = ([{"target_kind": TargetKind.site, "site_id": site_id} for site_id in values["site_ids"]]
               + [{"target_kind": TargetKind.device, "device_id": device_id} for device_id in values["device_ids"]])
    try:
        bodies = [AlarmRuleCreate.model_validate({**common, **target}) for target in targets or [{}]]
    except ValidationError:
        return values, {"form": "The rule cannot be saved like this; check the fields."}, []
    return values, errors, bodies


@router.post("/alarms/rules", response_class=HTMLResponse)
def save_built_rule(request: Request, access: RuleWriter, form: Annotated[FormData, Depends(posted_form)]) -> Response:
    """The builder's post: one rule per chosen site and device (or one for the whole type), all or none."""
    language = page_language(request)
    choices = _builder_choices(access, language)
    values, errors, bodies = _read_builder(form, choices)
    if not errors:
        try:
            for body in bodies:
                add_alarm_rule(access.db, body, access.principal.tenant_id)
        except Problem as problem:
            access.db.rollback()
            errors["form"] = i18n.in_language(problem.detail or problem.title, language)
    if errors:
        return _rules_page(request, access, {"values": values, "errors": errors}, status_code=422)
    access.db.commit()
    rule_book.invalidate()
    return RedirectResponse(f"/alarms/rules?saved={len(bodies)}#tenant-rules", status_code=303)


@router.get("/alarms/rules/preview")
def rule_preview(
    request: Request,
    access: Reader,
    device: Annotated[int, Query(ge=1, le=MAX_ID)],
    metric: Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]{0,63}$")],
    operator: Annotated[str, Query(max_length=2)],
    threshold: Annotated[str, Query(max_length=40)],
) -> JSONResponse:
    """Where the threshold rule would have fired on the device's last 7 days, with the chart to draw it on."""
    db = access.db
    found = get_visible(db, Device, device, "device")
    key = next((key for key in thresholdable_keys(q.type_specs(db).get(found.type_key)) if key.key == metric), None)
    if key is None:
        raise invalid("The device type has no such metric.")
    limit = parse_decimal(threshold)
    if limit is None:
        raise invalid("Enter a number, e.g. 30.5.")
    if operator not in OPERATORS:
        raise invalid("Choose above or below.")
    condition = Threshold(key=metric, operator=operator, value=limit)  # type: ignore[arg-type]
    end = clock.now()
    start = end - PREVIEW_WINDOW
    readings = [(point.at, float(point.value)) for point in iter_raw_points(db, [found.id], [metric], start, end)
                if isinstance(point.value, int | float) and not isinstance(point.value, bool)]
    fired = firing_times(readings, condition)
    value_at = dict(readings)
    zone_name = q.tenant_zone(db, found.tenant_id, access.settings.default_time_zone)
    when = sites_queries.time_formatter(zone_name, page_language(request))
    drawn = q.series(db, found, key, start, end, zone_name)
    catalogue = i18n.translations(page_language(request))
    summary = (catalogue.ngettext("Would have fired %(count)s time in the last 7 days.", "Would have fired %(count)s times in the last 7 days.",
                                  len(fired)) % {"count": len(fired)}
               if fired else catalogue.gettext("Would not have fired in the last 7 days."))
    return JSONResponse({
        "device_id": found.id, "device_name": found.name, "metric": key.key, "unit": key.unit,
        "label": q.text_in(key.label, page_language(request)), "operator": operator, "threshold": limit,
        "from": start.isoformat(), "to": end.isoformat(), "resolution": drawn.resolution,
        "times": drawn.times, "values": drawn.values,
        "fired": [{"at": at.isoformat(), "time": at.timestamp(), "value": value_at[at], "local": when(at)} for at in fired[:MAX_LISTED_FIRINGS]],
        "count": len(fired), "summary": summary,
    }, headers={"Cache-Control": "no-store"})


@router.get("/alarms/device/{device_id}", response_class=HTMLResponse)
def device_alarms(device_id: ObjectId, request: Request, access: Reader) -> HTMLResponse:
    alarms = list(access.db.scalars(alarms_query(access.db, state="open", device_id=device_id).limit(20)))
    return render(request, "alarms/_device_list.html", {"alarms": alarms, **_common(access, request)})


def _detail(access: Access, request: Request, alarm_id: int) -> dict[str, Any]:
    db = access.db
    alarm = get_visible(db, Alarm, alarm_id, "alarm")
    device = db.get(Device, alarm.device_id)
    site = db.get(Site, alarm.site_id) if alarm.site_id else None
    comments = list(db.scalars(select(AlarmComment).where(AlarmComment.alarm_id == alarm.id).order_by(AlarmComment.id)))
    # People are named only if the viewer may see them; otherwise the id stays unnamed.
    wanted = {c.author_id for c in comments} | {alarm.assignee_id, alarm.acknowledged_by_id, alarm.cleared_by_id}
    people = dict(db.execute(select(User.id, User.display_name).where(User.id.in_(wanted - {None}))).all())
    assignable = list(db.scalars(select(User).where(User.is_active.is_(True)).order_by(User.display_name).limit(200)))
    return {"alarm": alarm, "device": device, "site": site, "location": location_path(db, alarm.site_id),
            "comments": comments, "people": people,
            "assignable": assignable, "is_open": alarm.state != AlarmState.cleared, **_common(access, request)}


@router.get("/alarms/{alarm_id}", response_class=HTMLResponse)
def alarm_page(alarm_id: ObjectId, request: Request, access: Reader) -> HTMLResponse:
    return render(request, "alarms/show.html", _detail(access, request, alarm_id))


@router.get("/alarms/{alarm_id}/panel", response_class=HTMLResponse)
def alarm_panel(alarm_id: ObjectId, request: Request, access: Reader) -> HTMLResponse:
    return render(request, "alarms/_panel.html", _detail(access, request, alarm_id))
