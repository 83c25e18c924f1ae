"""License terms, renewal and history.

Renewal: an auto-renewing license is extended by its term once its end date has
passed, as often as needed to cover today (a scheduler that was down for two
years catches up). Every change writes a `LicenseChange`.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from leitstand.audit.recorder import current_actor
from leitstand.devices.models import Device
from leitstand.i18n import Refusal
from leitstand.licenses.models import License, LicenseChange, LicenseStatus


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def term_end(starts_on: date, term_months: int) -> date:
    """The last day covered by a term: a year from 1 March runs to 28/29 February.

    A term from a day the end month lacks runs to that month's last day: a month
    from 31 January (or 29, 30 January) ends on 28/29 February, not a day earlier.
    """
    following = add_months(starts_on, term_months)
    if following.day < starts_on.day:  # clamped: the end month has no such day
        return following
    return following - timedelta(days=1)


def snapshot(license_: License) -> dict[str, Any]:
    return {
        "starts_on": license_.starts_on.isoformat(),
        "ends_on": license_.ends_on.isoformat(),
        "term_months": license_.term_months,
        "auto_renew": license_.auto_renew,
    }


def record_change(db: Session, license_: License, action: str, before: dict[str, Any] | None) -> None:
    db.flush()
    db.add(
        LicenseChange(
            license_id=license_.id, device_id=license_.device_id, action=action,
            actor_user_id=current_actor.get().user_id, before=before, after=snapshot(license_),
        )
    )


def start_license(db: Session, device: Device, term_months: int, today: date) -> License:
    """Start the device's license today for one term, renewing automatically. A license
    the maker created beforehand is taken over; either way the history says "activated"."""
    license_ = db.scalar(select(License).where(License.device_id == device.id))
    before = snapshot(license_) if license_ is not None else None
    if license_ is None:
        license_ = License(device_id=device.id)
        db.add(license_)
    license_.tenant_id = device.tenant_id
    license_.starts_on = today
    license_.ends_on = term_end(today, term_months)
    license_.term_months = term_months
    license_.auto_renew = True
    record_change(db, license_, "activated", before)
    return license_


def stop_renewal(db: Session, device: Device, action: str) -> None:
    """The device's license, if it renews automatically, no longer does: it runs to its end
    date. `action` names why in the license's history (e.g. "decommissioned")."""
    license_ = db.scalar(select(License).where(License.device_id == device.id))
    if license_ is not None and license_.auto_renew:
        before = snapshot(license_)
        license_.auto_renew = False
        record_change(db, license_, action, before)


def renew(db: Session, license_: License, today: date) -> bool:
    """Extend by whole terms until the license covers today. Returns whether it changed."""
    before = snapshot(license_)
    changed = False
    while license_.ends_on < today:
        license_.ends_on = term_end(license_.ends_on + timedelta(days=1), license_.term_months)
        changed = True
    if changed:
        record_change(db, license_, "renewed", before)
    return changed


class RenewalRefused(Refusal):
    """A license that may not be renewed; `text` says why."""


def renewed_end(license_: License, today: date) -> date:
    """The end date a renewal now gives: an expired license is extended by whole terms until it
    covers today, an active one gets one more term after its current end date."""
    ends_on = license_.ends_on
    while True:
        ends_on = term_end(ends_on + timedelta(days=1), license_.term_months)
        if ends_on >= today:
            return ends_on


def renew_now(db: Session, license_: License, today: date) -> None:
    """Renew on request (see `renewed_end`), recorded in the license's history."""
    device = db.get(Device, license_.device_id)
    if device is not None and device.decommissioned_at is not None:
        raise RenewalRefused("The device is decommissioned.")
    before = snapshot(license_)
    license_.ends_on = renewed_end(license_, today)
    record_change(db, license_, "renewed", before)


def renew_due(db: Session, today: date) -> int:
    """The renewal job: renew every auto-renewing license whose term has ended."""
    due = db.scalars(select(License).where(License.auto_renew.is_(True), License.ends_on < today).order_by(License.id))
    return sum(renew(db, license_, today) for license_ in due)


def with_license_status(statement: Select[Any], status: LicenseStatus, today: date) -> Select[Any]:
    """A query of devices narrowed to those whose license has `status` today; a device
    without a license counts as unlicensed."""
    return statement.outerjoin(License, License.device_id == Device.id).where(status_filter(status, today))


def status_filter(status: LicenseStatus, today: date) -> Any:
    return {
        LicenseStatus.active: and_(License.starts_on <= today, License.ends_on >= today),
        LicenseStatus.expired: License.ends_on < today,
        LicenseStatus.unlicensed: or_(License.starts_on > today, License.id.is_(None)),
    }[status]
