"""Which devices a list shows: the one filter the API's device list and the portal's share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, select

from leitstand.access.rules import path_within
from leitstand.devices.models import Device
from leitstand.sites.models import Site


@dataclass(frozen=True)
class DeviceFilter:
    """What a device must match; a field left empty (None, "") matches every device.

    within_site is a site's path: the devices at that site and anywhere below it. The caller
    looks the site up in its own scoped session, so a site the reader cannot see is never
    used to find devices.
    """

    tenant_id: int | None = None
    within_site: str | None = None
    type_key: str | None = None
    label: str | None = None
    search: str | None = None  # part of the name or serial number, any case

    def clauses(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses of this filter, for a query that selects from Device."""
        clauses: list[ColumnElement[bool]] = []
        if self.tenant_id is not None:
            clauses.append(Device.tenant_id == self.tenant_id)
        if self.within_site is not None:
            clauses.append(Device.site_id.in_(select(Site.id).where(path_within(Site.path, self.within_site))))
        if self.type_key:
            clauses.append(Device.type_key == self.type_key)
        if self.label:
            # Labels are a short JSON list; matching its quoted form works on both backends.
            clauses.append(_contains(cast(Device.labels, String), json.dumps(self.label)))
        if self.search:
            clauses.append(_contains(Device.name, self.search) | _contains(Device.serial_number, self.search))
        return clauses


NO_SITE = ""
"""A `within_site` that no device matches: for a site the reader asked for but cannot see."""


def matching(wanted: DeviceFilter) -> Select[tuple[Device]]:
    """The devices that match, in no particular order (the list chooses one)."""
    return select(Device).where(*wanted.clauses())


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    # Case-insensitive, with LIKE wildcards in the text taken literally (as web.crud.contains,
    # which lies on a floor above devices).
    return column.icontains(text, autoescape=True)  # type: ignore[no-any-return]
