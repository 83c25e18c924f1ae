"""Shared by the list tests (test_list_sorting.py, test_list_csv.py): each of the six portal
lists with two of Alpha's records in a known order, and a filter that keeps one of them.

`seed(world)` adds what the world lacks: a second top site, two alarms, two tickets and a
second license, all Alpha's. Beta has its own records of each kind (its barrier's alarm,
ticket, …), so a leak shows up as BETA_MARK in an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from fastapi.testclient import TestClient

from leitstand.alarms.models import Alarm
from leitstand.licenses.models import License
from leitstand.sites.models import Site, SiteKind
from leitstand.tenancy.models import new_path_segment
from tests.helpers.world import ALPHA_MARK, BETA_MARK, PASSWORD, Organisation, World


@dataclass(frozen=True)
class ListCase:
    name: str
    page: str  # the list page
    export: str  # its CSV export
    sort: str  # a column key whose ascending order puts `first` before `second`
    first: str
    second: str
    filter: dict[str, str]  # keeps `second`, drops `first`
    header: str  # the sorted column's header in German, as the CSV writes it


CASES = [
    ListCase("devices", "/devices", "/devices/export.csv", "name",
             f"Alpha Schranke {ALPHA_MARK}", f"Alpha Thermostat {ALPHA_MARK}", {"q": "Thermostat"}, "Name"),
    ListCase("sites", "/sites", "/sites/export.csv", "name",
             f"Alpha Parkhaus {ALPHA_MARK}", f"Alpha Zentrale {ALPHA_MARK}", {"q": "Zentrale"}, "Standort"),
    ListCase("alarms", "/alarms", "/alarms/export.csv", "device",
             f"Lichtschranke {ALPHA_MARK}", f"Heizung {ALPHA_MARK}", {"severity": "critical"}, "Gerät"),
    ListCase("tickets", "/tickets", "/tickets/export.csv", "title",
             f"Aufzug {ALPHA_MARK}", f"Zaun {ALPHA_MARK}", {"class": "1"}, "Titel"),
    ListCase("users", "/manage/users", "/manage/users/export.csv", "name",
             f"Alpha Admin {ALPHA_MARK}", f"Alpha Reader {ALPHA_MARK}", {"q": "reader"}, "Name"),
    ListCase("licenses", "/manage/licenses", "/manage/licenses/export.csv", "end",
             f"Alpha Thermostat {ALPHA_MARK}", f"Alpha Schranke {ALPHA_MARK}", {"status": "active"}, "Ende"),
]


def _alarm(org: Organisation, device_id: int, severity: str, title: str) -> Alarm:
    key = f"{device_id}:{title}"
    return Alarm(tenant_id=org.customer.id, device_id=device_id, site_id=org.room.id, key=key, open_key=key,
                 rule_key="test", kind="error_code", code="E01", severity=severity, title=title, state="active")


def seed(world: World) -> None:
    db = world.db
    for org in (world.alpha, world.beta):
        label = "Alpha" if org is world.alpha else "Beta"
        db.add(Site(tenant_id=org.customer.id, kind=SiteKind.site, name=f"{label} Zentrale {org.mark}",
                    path=f"/{new_path_segment()}/", city="Kiel"))
        db.add(_alarm(org, org.barrier.id, "minor", f"Lichtschranke {org.mark}"))
        db.add(_alarm(org, org.thermostat.id, "critical", f"Heizung {org.mark}"))
        # The thermostat's license ended: the barrier's (active) ends later.
        db.add(License(device_id=org.thermostat.id, tenant_id=org.customer.id, starts_on=date.today() - timedelta(days=400),
                       ends_on=date.today() - timedelta(days=35), term_months=12, auto_renew=False))
    db.commit()
    for user, mark in (("alpha_operator", ALPHA_MARK), ("beta_operator", BETA_MARK)):
        org = world.alpha if mark == ALPHA_MARK else world.beta
        for ticket_class, title in ((2, f"Aufzug {mark}"), (1, f"Zaun {mark}")):
            opened = world.as_user(user).post("/api/v1/tickets", json={
                "ticket_class": ticket_class, "title": title, "device_id": org.barrier.id})
            assert opened.status_code == 201, opened.text


def logged_in(world: World, user: str) -> TestClient:
    """A browser session (cookie) of one of the world's users."""
    client = TestClient(world.app, base_url="http://localhost:8000")
    response = client.post("/api/v1/auth/login", json={"email": world.users[user].email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


