"""Alarm routes: the alarm list and lifecycle (/alarms), and tenants' alarm rules (/alarm-rules)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from leitstand.access.rules import path_within, within_tenant
from leitstand.accounts.models import User
from leitstand.alarms.models import Alarm, AlarmComment, AlarmRule, AlarmState, TargetKind
from leitstand.alarms.rules import (
    ConditionKind,
    RuleConfigError,
    check_condition,
    condition_adapter,
    default_rules,
    rule_book,
)
from leitstand.alarms.schemas import (
    AlarmDetail,
    AlarmPublic,
    AlarmRuleCreate,
    AlarmRulePublic,
    AlarmRuleUpdate,
    AlarmStateFilter,
    AssignBody,
    CommentCreate,
    CommentPublic,
    DefaultRulePublic,
)
from leitstand.alarms.service import SEVERITY_RANK, acknowledge, add_comment, assign, bind_live, clear_by_hand
from leitstand.devices.models import Device
from leitstand.devicetypes.models import DeviceType
from leitstand.devicetypes.spec import DeviceTypeSpec, Severity, spec_for, type_keys
from leitstand.permissions import Permission
from leitstand.sites.models import Site
from leitstand.tenancy.models import Tenant
from leitstand.web.crud import EqualsFilter, Resource, get_visible, read_page, resource_routes
from leitstand.web.deps import Access, requires
from leitstand.web.errors import Message, conflict, invalid, not_found
from leitstand.web.types import FilterId, Limit, ObjectId, Offset, Page, PageRequest

router = APIRouter(tags=["alarms"])
Reader = Annotated[Access, requires(Permission.alarm_read)]
Writer = Annotated[Access, requires(Permission.alarm_write)]
RuleWriter = Annotated[Access, requires(Permission.alarm_rule_write)]
TypeKeyFilter = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


# --- alarms -----------------------------------------------------------------------------


def alarms_query(
    db: Session, *, state: str | None = None, severity: str | None = None, site_id: int | None = None,
    device_id: int | None = None,
) -> Any:
    """The alarm list's filters, shared by the API and the portal."""
    statement = select(Alarm).order_by(Alarm.raised_at.desc(), Alarm.id.desc())
    if state == "open":
        statement = statement.where(Alarm.state != AlarmState.cleared)
    elif state:
        statement = statement.where(Alarm.state == state)
    if severity:
        statement = statement.where(Alarm.severity == severity)
    if site_id is not None:
        site = db.get(Site, site_id)
        if site is None:
            raise not_found("site")
        statement = statement.where(Alarm.site_id.in_(select(Site.id).where(path_within(Site.path, site.path))))
    if device_id is not None:
        statement = statement.where(Alarm.device_id == device_id)
    return statement


@router.get("/alarms", response_model=Page[AlarmPublic])
def list_alarms(
    access: Reader,
    state: Annotated[AlarmStateFilter | None, Query(description="open = active or acknowledged.")] = None,
    severity: Annotated[Severity | None, Query()] = None,
    site_id: FilterId = None,
    device_id: FilterId = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[AlarmPublic]:
    statement = alarms_query(access.db, state=state, severity=severity.value if severity else None,
                             site_id=site_id, device_id=device_id)
    return read_page(access.db, statement, PageRequest(limit, offset), AlarmPublic.model_validate)


def _detail(db: Session, alarm: Alarm) -> AlarmDetail:
    comments = db.scalars(select(AlarmComment).where(AlarmComment.alarm_id == alarm.id).order_by(AlarmComment.id))
    return AlarmDetail.model_validate({
        **AlarmPublic.model_validate(alarm).model_dump(),
        "comments": [CommentPublic.model_validate(comment) for comment in comments],
    })


@router.get("/alarms/{alarm_id}", response_model=AlarmDetail)
def get_alarm(alarm_id: ObjectId, access: Reader) -> AlarmDetail:
    return _detail(access.db, get_visible(access.db, Alarm, alarm_id, "alarm"))


def _live(request: Request, access: Access) -> Session:
    return bind_live(access.db, request.app.state.live_hub.publish)


@router.post("/alarms/{alarm_id}/acknowledge", response_model=AlarmPublic)
def acknowledge_alarm(alarm_id: ObjectId, request: Request, access: Writer) -> Alarm:
    """Take the alarm on. It stays open until its condition ends or it is cleared by hand."""
    db = _live(request, access)
    alarm = acknowledge(db, get_visible(db, Alarm, alarm_id, "alarm"), access.principal.user_id)
    db.commit()
    return alarm


@router.post("/alarms/{alarm_id}/clear", response_model=AlarmPublic)
def clear_alarm_by_hand(alarm_id: ObjectId, request: Request, access: Writer) -> Alarm:
    """Close the alarm by hand. If its condition still holds, a new alarm follows."""
    db = _live(request, access)
    alarm = clear_by_hand(db, get_visible(db, Alarm, alarm_id, "alarm"), access.principal.user_id)
    db.commit()
    return alarm


@router.post("/alarms/{alarm_id}/comments", response_model=CommentPublic, status_code=201)
def comment_alarm(alarm_id: ObjectId, body: CommentCreate, access: Writer) -> AlarmComment:
    db = access.db
    comment = add_comment(db, get_visible(db, Alarm, alarm_id, "alarm"), access.principal.user_id, body.text)
    db.commit()
    return comment


@router.post("/alarms/{alarm_id}/assign", response_model=AlarmPublic)
def assign_alarm(alarm_id: ObjectId, body: AssignBody, request: Request, access: Writer) -> Alarm:
    db = _live(request, access)
    alarm = get_visible(db, Alarm, alarm_id, "alarm")
    if body.assignee_id is not None:
        assignee = get_visible(db, User, body.assignee_id, "user")
        if not assignee.is_active:
            raise invalid("The assignee's account is disabled.")
    assign(db, alarm, body.assignee_id)
    db.commit()
    return alarm


# --- alarm rules ---------------------------------------------------------------------------


def _type_spec(db: Session, type_key: str) -> DeviceTypeSpec:
    row = get_visible(db, DeviceType, type_key, "device type")
    return spec_for(row.key, db)


def _check_rule(db: Session, rule: AlarmRule, spec: DeviceTypeSpec, tenant: Tenant, condition: Any) -> None:
    """Refuse a rule that could never work: 422 with the reason."""
    try:
        check_condition(condition, spec)
    except RuleConfigError as error:
        raise invalid(str(error)) from error
    if rule.severity is None and condition.kind != ConditionKind.error_code:
        raise invalid("A severity is needed (only error-code rules take theirs from the catalogue).")
    if rule.severity is not None and rule.severity not in SEVERITY_RANK:
        raise invalid("Unknown severity.")
    for other_type in type_keys():
        if other_type != rule.type_key and any(d.key == rule.key for d in default_rules(other_type)):
            raise invalid(Message("The key %(key)s belongs to the default rules of %(type)s.", key=rule.key, type=other_type))
    if rule.target_kind == TargetKind.device_type:
        if rule.site_id is not None or rule.device_id is not None:
            raise invalid("A rule for a device type names no site or device.")
    elif rule.target_kind == TargetKind.site:
        if rule.site_id is None or rule.device_id is not None:
            raise invalid("A rule for a site needs site_id (and no device_id).")
        site = get_visible(db, Site, rule.site_id, "site")
        site_tenant = db.get(Tenant, site.tenant_id)
        if site_tenant is None or not within_tenant(site_tenant.path, tenant.path):
            raise invalid("The site does not belong to the rule's tenant.")
    elif rule.target_kind == TargetKind.device:
        if rule.device_id is None or rule.site_id is not None:
            raise invalid("A rule for a device needs device_id (and no site_id).")
        device = get_visible(db, Device, rule.device_id, "device")
        device_tenant = db.get(Tenant, device.tenant_id)
        if device.type_key != rule.type_key:
            raise invalid(Message("The device is not a %(type)s.", type=rule.type_key))
        if device_tenant is None or not within_tenant(device_tenant.path, tenant.path):
            raise invalid("The device does not belong to the rule's tenant.")


def _change_alarm_rule(db: Session, rule: AlarmRule, body: AlarmRuleUpdate) -> None:
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "enabled"):
        if field in changes:
            setattr(rule, field, changes[field])
    if "severity" in changes:
        rule.severity = body.severity.value if body.severity else None
    if "condition" in changes:
        rule.condition = body.condition.model_dump()
    tenant = get_visible(db, Tenant, rule.tenant_id, "tenant")
    _check_rule(db, rule, _type_spec(db, rule.type_key), tenant, condition_adapter.validate_python(rule.condition))


def _commit_rule_change(access: Access, rule: AlarmRule) -> None:
    access.db.commit()
    rule_book.invalidate()  # the evaluator reads the changed rules from now on


ALARM_RULES = Resource(
    model=AlarmRule, what="alarm rule", key="rule_id", public=AlarmRulePublic, patch=AlarmRuleUpdate,
    reader=Reader, writer=RuleWriter, order_by=(AlarmRule.type_key, AlarmRule.key, AlarmRule.id),
    filters=(EqualsFilter("tenant_id", FilterId, AlarmRule.tenant_id),
             EqualsFilter("type_key", TypeKeyFilter, AlarmRule.type_key)),
    change=_change_alarm_rule, commit=_commit_rule_change,
)
resource_routes(router, ALARM_RULES, collection="/alarm-rules", names={"list": "list_alarm_rules"})


@router.get("/alarm-rules/defaults", response_model=list[DefaultRulePublic])
def list_default_rules(access: Reader, type_key: TypeKeyFilter = None) -> list[DefaultRulePublic]:
    """The rules every device type ships; a tenant rule with the same key replaces one."""
    keys = [type_key] if type_key else type_keys()
    return [
        DefaultRulePublic(type_key=key, key=rule.key, name=rule.name, name_de=rule.name_de, severity=rule.severity,
                          condition=rule.condition.model_dump())
        for key in keys for rule in default_rules(key)
    ]


# After /alarm-rules/defaults, so that "defaults" is not taken for a rule id.
resource_routes(router, ALARM_RULES, item="/alarm-rules/{rule_id}", names={
    "get": "get_alarm_rule", "patch": "update_alarm_rule", "delete": "delete_alarm_rule"})


@router.post("/alarm-rules", response_model=AlarmRulePublic, status_code=201)
def create_alarm_rule(body: AlarmRuleCreate, access: RuleWriter) -> AlarmRule:
    rule = add_alarm_rule(access.db, body, access.principal.tenant_id)
    access.db.commit()
    rule_book.invalidate()
    return rule


def add_alarm_rule(db: Session, body: AlarmRuleCreate, own_tenant_id: int) -> AlarmRule:
    """Check and add a tenant rule (not committed: the portal's builder adds one per target at once)."""
    tenant = get_visible(db, Tenant, body.tenant_id or own_tenant_id, "tenant")
    spec = _type_spec(db, body.type_key)
    rule = AlarmRule(
        tenant_id=tenant.id, key=body.key, name=body.name, enabled=body.enabled,
        severity=body.severity.value if body.severity else None, type_key=body.type_key,
        target_kind=body.target_kind.value, site_id=body.site_id, device_id=body.device_id,
        condition=body.condition.model_dump(),
    )
    _check_rule(db, rule, spec, tenant, body.condition)
    same = db.scalar(select(AlarmRule.id).where(
        AlarmRule.tenant_id == tenant.id, AlarmRule.key == rule.key, AlarmRule.type_key == rule.type_key,
        AlarmRule.target_kind == rule.target_kind,
        AlarmRule.site_id.is_(None) if rule.site_id is None else AlarmRule.site_id == rule.site_id,
        AlarmRule.device_id.is_(None) if rule.device_id is None else AlarmRule.device_id == rule.device_id,
    ))
    if same is not None:
        raise conflict("This tenant has a rule with this key for this target already.")
    db.add(rule)
    db.flush()
    return rule
