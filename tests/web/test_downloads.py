"""Every file download names its file as RFC 6266 asks, whatever the name: €, emoji, CJK, right to left.

An HTTP header is Latin-1 on the wire: "Prüfbericht €.png" put into it as it is made the
attachment download a 500 and a reset connection. Each route whose OpenAPI 200 response is a
file is fetched here with a name of each kind, and the header is parsed independently of
leitstand.web.downloads: `filename*` decoded with urllib must give the name back exactly, and
`filename` must be plain ASCII. The last test fails for a file route this file does not cover.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

import pytest

from leitstand.clock import clock
from leitstand.dataexport import jobs
from leitstand.web.downloads import content_disposition
from tests.helpers.world import World

NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
NAMES = {
    "euro": "Prüfbericht €",
    "emoji": "Störung 🚧 Tor 👨\u200d🔧",  # a ZWJ sequence: one glyph of three code points
    "cjk": "点検報告 東京",
    "rtl": "דוח בדיקה",
}

# RFC 6266 / RFC 7230 grammar, written out here so the test does not trust the code it checks.
TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
QUOTED = r'"(?:[^"\\\x00-\x1f\x7f]|\\[\x20-\x7e])*"'
PARAMETER = re.compile(rf";[ \t]*({TOKEN})[ \t]*=[ \t]*({TOKEN}|{QUOTED})[ \t]*")
EXTENDED_VALUE = re.compile(r"UTF-8'[A-Za-z0-9-]*'((?:%[0-9A-Fa-f]{2}|[!#$&+.^_`|~0-9A-Za-z-])*)", re.IGNORECASE)


def parse_disposition(value: str) -> tuple[str, dict[str, str]]:
    """The disposition type and its parameters (quoted strings unquoted); fails on anything malformed."""
    assert value.isascii() and "\r" not in value and "\n" not in value, value
    kind, separator, rest = value.partition(";")
    assert re.fullmatch(TOKEN, kind.strip()), value
    parameters: dict[str, str] = {}
    position, rest = 0, separator + rest
    for match in PARAMETER.finditer(rest):
        assert match.start() == position, f"cannot parse {rest[position:]!r}"
        name, raw = match.group(1).lower(), match.group(2)
        assert name not in parameters, f"{name} twice"
        parameters[name] = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
        position = match.end()
    assert position == len(rest), f"cannot parse {rest[position:]!r}"
    return kind.strip().lower(), parameters


def downloaded_name(value: str) -> str:
    """The file name a client that follows RFC 6266 saves under; checks the ASCII stand-in too."""
    kind, parameters = parse_disposition(value)
    assert kind == "attachment"
    assert "filename" in parameters, f"no ASCII filename= for clients without RFC 5987: {value}"
    fallback = parameters["filename"]
    assert fallback.strip() and fallback.isascii() and fallback.isprintable(), fallback
    assert not set(fallback) & set('/\\"%'), fallback
    if "filename*" not in parameters:
        return fallback
    encoded = EXTENDED_VALUE.fullmatch(parameters["filename*"])
    assert encoded, parameters["filename*"]
    return unquote(encoded.group(1), encoding="utf-8", errors="strict")


# --- the file routes, each fetched with a given name ---------------------------------------------


@dataclass
class Fetched:
    response: object
    name_matches: Callable[[str], bool]  # whether the name a client saves under is right
    body_intact: Callable[[bytes], bool]


def _attachment(world: World, name: str) -> Fetched:
    api = world.as_user("alpha_admin")
    entry = api.post(f"/api/v1/maintenance/devices/{world.alpha.barrier.id}/entries", json={
        "performed_on": "2026-06-14", "technician_name": "M. Weber", "checklist": []}).json()
    file_name = f"{name}.png"
    uploaded = api.post(f"/api/v1/maintenance/entries/{entry['id']}/attachments", files={"file": (file_name, PNG)})
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["file_name"] == file_name  # stored as given
    return Fetched(api.get(f"/api/v1/maintenance/attachments/{uploaded.json()['id']}"),
                   lambda saved: saved == file_name, lambda body: body == PNG)


def _renamed_barrier(world: World, name: str) -> None:
    renamed = world.as_user("alpha_admin").patch(f"/api/v1/devices/{world.alpha.barrier.id}", json={"name": name})
    assert renamed.status_code == 200, renamed.text


def _book_pdf(world: World, name: str) -> Fetched:
    _renamed_barrier(world, name)
    response = world.as_user("alpha_admin").get(f"/api/v1/maintenance/devices/{world.alpha.barrier.id}/book.pdf")
    return Fetched(response, lambda saved: name in saved and saved.endswith(".pdf"),
                   lambda body: body.startswith(b"%PDF-"))


def _telemetry(file_format: str) -> Callable[[World, str], Fetched]:
    def fetch(world: World, name: str) -> Fetched:
        _renamed_barrier(world, name)
        response = world.as_user("alpha_admin").get(f"/api/v1/devices/{world.alpha.barrier.id}/telemetry/export",
                                                    params={"format": file_format})
        if file_format == "csv":
            intact: Callable[[bytes], bool] = lambda body: body.decode().splitlines()[0] == "device_id,key,time,value,status,interval_end"
        else:
            intact = lambda body: "xl/workbook.xml" in zipfile.ZipFile(io.BytesIO(body)).namelist()
        return Fetched(response, lambda saved: name in saved and saved.endswith(f".{file_format}"), intact)

    return fetch


def _audit(world: World, name: str) -> Fetched:
    """The audit file has a fixed name; the name travels in its body (the device's rename)."""
    _renamed_barrier(world, name)
    response = world.as_user("alpha_admin").get("/api/v1/audit/export", params={
        "format": "csv", "target_type": "devices", "target_id": str(world.alpha.barrier.id)})

    def intact(body: bytes) -> bool:
        return any(name in row["changes"] for row in csv.DictReader(io.StringIO(body.decode("utf-8"))))

    return Fetched(response, lambda saved: saved == "audit.csv", intact)


def _data_export(world: World, name: str) -> Fetched:
    api = world.as_user("alpha_admin")
    assert api.patch(f"/api/v1/tenants/{world.alpha.customer.id}", json={"name": name}).status_code == 200
    started = api.post("/api/v1/exports", json={"tenant_id": world.alpha.customer.id}).json()
    assert jobs.wait(started["id"], timeout=120)
    job = api.get(f"/api/v1/exports/{started['id']}").json()
    assert job["state"] == "done", job["error"]
    letters = "".join(char for char in name.lower() if char.isalnum())
    assert letters and letters in job["file_name"].replace("-", "")  # the zip is named after the organisation
    return Fetched(api.get(f"/api/v1/exports/{job['id']}/download"), lambda saved: saved == job["file_name"],
                   lambda body: hashlib.sha256(body).hexdigest() == job["sha256"])


DOWNLOADS: dict[str, list[tuple[str, Callable[[World, str], Fetched]]]] = {
    "GET /api/v1/maintenance/attachments/{attachment_id}": [("attachment", _attachment)],
    "GET /api/v1/maintenance/devices/{device_id}/book.pdf": [("book-pdf", _book_pdf)],
    "GET /api/v1/devices/{device_id}/telemetry/export": [("telemetry-csv", _telemetry("csv")),
                                                         ("telemetry-xlsx", _telemetry("xlsx"))],
    "GET /api/v1/audit/export": [("audit-csv", _audit)],
    "GET /api/v1/exports/{export_id}/download": [("data-export", _data_export)],
}
CASES = [pytest.param(fetch, name, id=f"{case}-{kind}")
         for cases in DOWNLOADS.values() for case, fetch in cases for kind, name in NAMES.items()]


@pytest.mark.parametrize(("fetch", "name"), CASES)
def test_each_download_names_its_file_exactly_and_in_ascii(world: World, fetch, name: str) -> None:  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    fetched = fetch(world, name)
    response = fetched.response
    assert response.status_code == 200, response.text
    saved = downloaded_name(response.headers["content-disposition"])
    assert fetched.name_matches(saved), saved
    assert fetched.body_intact(response.content)


def test_every_file_download_route_is_covered(app) -> None:  # type: ignore[no-untyped-def]
    """A route whose 200 answer is a file (not JSON, not the live event stream) must be listed above."""
    file_routes = set()
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            media_types = set(operation.get("responses", {}).get("200", {}).get("content", {}))
            if media_types - {"application/json", "text/event-stream"}:
                file_routes.add(f"{method.upper()} {path}")
    assert file_routes == set(DOWNLOADS)


# --- the portal's list exports (pages, so not in the OpenAPI document) --------------------------

# Each list's CSV and the name it is saved under for a German reader (from the list's title).
PORTAL_DOWNLOADS = {
    "/devices/export.csv": "Geräte.csv",
    "/sites/export.csv": "Standorte.csv",
    "/alarms/export.csv": "Alarme.csv",
    "/tickets/export.csv": "Support-Tickets.csv",
    "/manage/users/export.csv": "Benutzer.csv",
    "/manage/licenses/export.csv": "Lizenzen.csv",
}
FILE_PATH = re.compile(r"\.(csv|ndjson|pdf|xlsx|zip|png)$")


@pytest.mark.parametrize(("path", "file_name"), PORTAL_DOWNLOADS.items())
def test_each_list_export_names_its_file_exactly_and_in_ascii(world: World, path: str, file_name: str) -> None:
    from fastapi.testclient import TestClient

    from tests.helpers.world import PASSWORD

    _renamed_barrier(world, NAMES["euro"])  # the name travels in the body of the device list
    browser = TestClient(world.app, base_url="http://localhost:8000")
    assert browser.post("/api/v1/auth/login", json={"email": world.users["alpha_admin"].email,
                                                    "password": PASSWORD}).status_code == 200
    response = browser.get(path)
    assert response.status_code == 200, response.text
    assert downloaded_name(response.headers["content-disposition"]) == file_name
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    if path == "/devices/export.csv":
        assert NAMES["euro"] in body


def test_every_portal_file_download_is_covered() -> None:
    """A portal route whose path names a file must be listed above."""
    from leitstand.portal.routes import PORTAL_ROUTERS

    file_routes = {route.path for router in PORTAL_ROUTERS for route in router.routes if FILE_PATH.search(route.path)}
    assert file_routes == set(PORTAL_DOWNLOADS)


# --- the header itself, for names a client or a user can make up ------------------------------


@pytest.mark.parametrize(("given", "saved"), [
    ("Prüfbericht €.png", "Prüfbericht €.png"),
    ("Pru\u0308fbericht.pdf", "Prüfbericht.pdf"),  # as macOS sends it (NFD): saved NFC
    ("تقرير الفحص.pdf", "تقرير الفحص.pdf"),
    ('Bericht "final"; v2.pdf', 'Bericht "final"; v2.pdf'),
    ("a\\b.pdf", "a_b.pdf"),
    ("../../etc/passwd", ".._.._etc_passwd"),
    ("x\r\nSet-Cookie: session=stolen.pdf", "xSet-Cookie: session=stolen.pdf"),
    ("tab\tnul\x00del\x7f.pdf", "tabnuldel.pdf"),
    ("\u202egpj.exe", "gpj.exe"),  # a right-to-left override would show it as "exe.jpg"
    ("100% sicher.csv", "100% sicher.csv"),
    ("   ", "download"),
    ("", "download"),
])
def test_any_name_gives_one_well_formed_header(given: str, saved: str) -> None:
    value = content_disposition(given)
    assert downloaded_name(value) == saved == unicodedata.normalize("NFC", saved)


@pytest.mark.parametrize(("given", "fallback"), [
    ("Prüfbericht €.png", "Prufbericht EUR.png"),
    ("Straße 100%.csv", "Strasse 100_.csv"),
    ("Störung 🚧 Tor 👨\u200d🔧.pdf", "Storung _ Tor _.pdf"),
    ("点検報告 東京.pdf", "download.pdf"),
    ("דוח בדיקה.png", "download.png"),
    ("report.pdf", "report.pdf"),
])
def test_the_ascii_stand_in_is_readable(given: str, fallback: str) -> None:
    _kind, parameters = parse_disposition(content_disposition(given))
    assert parameters["filename"] == fallback
    assert ("filename*" in parameters) == (fallback != given)  # the exact name only where it differs
