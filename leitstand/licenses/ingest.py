"""The licence gate of ingest (leitstand.ingest.ports.Licenses): which devices may ingest."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, SQLColumnExpression

from leitstand.ingest.events import KnownDevice
from leitstand.licenses.models import License, LicenseStatus, status_on


class LicenseGate:
    """Reads a device's licence terms with the device (one query for both, cached with it by
    the device directory) and says whether they allow ingest on a given day."""

    def with_terms(self, query: Select, device_id: SQLColumnExpression[int]) -> Select:
        return query.add_columns(License.starts_on, License.ends_on).outerjoin(License, License.device_id == device_id)

    def licensed_on(self, device: KnownDevice, day: date) -> bool:
        return status_on(day, device.license_starts, device.license_ends) == LicenseStatus.active
