"""Display text: names, titles, labels and comments are NFC, carry no invisible characters and
cannot reorder what follows them, whichever way they come in (API, CSV import, CLI, tenant import).

Issue 13, defect 8: U+202E and zero-width characters were stored in names and titles.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from leitstand.accounts.models import User
from leitstand.cli import app as cli_app
from leitstand.dataexport.export import export_tenant
from leitstand.dataexport.importer import import_export
from leitstand.devices.models import Device
from leitstand.tenancy.scope import system_session
from tests.helpers.world import World

RLO = "\u202e"
FAMILY = "👨\u200d👩\u200d👧"  # man, ZWJ, woman, ZWJ, girl: one emoji
PERSIAN = "می\u200cخواهم"  # ZWNJ keeps the two words' letters from joining
HINDI_CONJUNCT = "क्\u200dष"  # ZWJ asks for the half form of KA
REORDERING = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


@pytest.mark.parametrize(("typed", "stored"), [
    ("Cafe\u0301", "Café"),  # decomposed é: the same name, one way of writing it
    ("\ufeffSchranke\u200b Nord\u2060", "Schranke Nord"),  # a spreadsheet's BOM, zero-width space, word joiner
    ("\u200fשלום\u200e", "שלום"),  # direction marks
    ("\u061cمرحبا", "مرحبا"),  # Arabic letter mark
    ("Ad\u200dmin", "Admin"),  # a joiner between Latin letters only hides a difference
    ("\u200cNord\u200d", "Nord"),  # joiners at the ends join nothing
    (FAMILY, FAMILY),
    ("🏳️\u200d🌈", "🏳️\u200d🌈"),
    ("👩🏽\u200d💻", "👩🏽\u200d💻"),
    (PERSIAN, PERSIAN),
    (HINDI_CONJUNCT, HINDI_CONJUNCT),
    ("a\u200d\u200db", "ab"),
])
def test_clean_keeps_what_a_script_needs_and_strips_what_only_hides(typed: str, stored: str) -> None:
    from leitstand.display_text import clean

    assert clean(typed) == stored


@pytest.mark.parametrize("char", REORDERING)
def test_every_reordering_character_is_refused_by_its_code_point(char: str) -> None:
    from leitstand.display_text import RefusedCharacter, clean

    with pytest.raises(RefusedCharacter, match=f"U\\+{ord(char):04X} {unicodedata.name(char)}"):
        clean(f"rechnung{char}fdp.exe")


def _alarm_id(world: World) -> int:
    from leitstand.alarms.service import raise_alarm

    alarm = raise_alarm(world.db, device_id=world.alpha.barrier.id, kind="error_code", key="barrier.errors:E1",
                        severity="major", title="Motor")
    world.db.commit()
    return alarm.id


BODIES = {
    "device name": lambda w: ("PATCH", f"/api/v1/devices/{w.alpha.barrier.id}", {"name": "x"}, ["body", "name"]),
    "device label": lambda w: ("PATCH", f"/api/v1/devices/{w.alpha.barrier.id}", {"labels": ["x"]}, ["body", "labels", "0"]),
    "tenant city": lambda w: ("PATCH", f"/api/v1/tenants/{w.alpha.customer.id}", {"city": "x"}, ["body", "city"]),
    "site name": lambda w: ("PATCH", f"/api/v1/sites/{w.alpha.site.id}", {"name": "x"}, ["body", "name"]),
    "user name": lambda w: ("PATCH", f"/api/v1/users/{w.alpha.operator.id}", {"display_name": "x"},
                            ["body", "display_name"]),
    "ticket title": lambda w: ("POST", "/api/v1/tickets", {"ticket_class": 3, "title": "x", "device_id": w.alpha.barrier.id},
                               ["body", "title"]),
    "alarm comment": lambda w: ("POST", f"/api/v1/alarms/{_alarm_id(w)}/comments", {"text": "x"}, ["body", "text"]),
    "inspection findings": lambda w: ("POST", f"/api/v1/maintenance/devices/{w.alpha.barrier.id}/entries",
                                      {"performed_on": "2026-01-05", "findings": "x"}, ["body", "findings"]),
    "notification rule name": lambda w: ("POST", "/api/v1/notifications/rules",
                                         {"tenant_id": w.alpha.customer.id, "name": "x", "roles": ["operator"]},
                                         ["body", "name"]),
}


def _with(body: object, value: str) -> object:
    if isinstance(body, dict):
        return {key: _with(item, value) for key, item in body.items()}
    if isinstance(body, list):
        return [_with(item, value) for item in body]
    return value if body == "x" else body


def test_the_api_refuses_a_reordering_character_naming_field_and_character(world: World) -> None:
    admin = world.as_user("alpha_admin")
    for what, make in BODIES.items():
        method, path, body, loc = make(world)

        response = admin.request(method, path, json=_with(body, f"invoice{RLO}fdp.exe"))

        assert response.status_code == 422, f"{what}: {response.text}"
        messages = [error["msg"] for error in response.json()["errors"] if error["loc"] == loc]
        assert messages == ["U+202E RIGHT-TO-LEFT OVERRIDE is not allowed: it reorders the text around it"], what


def strings(document: object) -> list[str]:
    if isinstance(document, dict):
        return [text for value in document.values() for text in strings(value)]
    if isinstance(document, list):
        return [text for value in document for text in strings(value)]
    return [document] if isinstance(document, str) else []


def test_the_api_stores_display_text_in_nfc_without_invisible_characters(world: World) -> None:
    admin = world.as_user("alpha_admin")
    for what, make in BODIES.items():
        method, path, body, _ = make(world)

        response = admin.request(method, path, json=_with(body, "\ufeffCafe\u0301\u200b Nord"))

        assert response.status_code in (200, 201), f"{what}: {response.text}"
        assert "Café Nord" in strings(response.json()), what


def test_names_in_scripts_that_need_joiners_are_kept(world: World) -> None:
    admin = world.as_user("alpha_admin")
    for name in (FAMILY, PERSIAN, HINDI_CONJUNCT):
        response = admin.patch(f"/api/v1/users/{world.alpha.operator.id}", json={"display_name": name})
        assert response.status_code == 200, response.text
        assert response.json()["display_name"] == name


def test_the_schema_states_the_refusal() -> None:
    from leitstand.devices.schemas import DeviceUpdate

    pattern = DeviceUpdate.model_json_schema()["properties"]["name"]["pattern"]

    assert re.match(pattern, "Schranke Nord")
    assert not any(re.match(pattern, f"a{char}b") for char in REORDERING)


def _csv_import(world: World, rows: str):  # type: ignore[no-untyped-def]
    return world.as_user("alpha_admin").post(
        "/api/v1/devices/import", params={"tenant_id": world.alpha.customer.id},
        content=("serial_number,type_key,name,labels\n" + rows).encode(), headers={"content-type": "text/csv"})


def test_the_csv_import_refuses_a_reordering_character_in_a_row(world: World) -> None:
    response = _csv_import(world, f"TX-BAR-0001,barrier,Schranke {RLO}droN,\nTX-BAR-0002,barrier,Schranke Süd,\n")

    assert response.status_code == 422, response.text
    first, second = response.json()["report"]["rows"]
    assert (first["status"], first["message"]) == ("error", "name: U+202E RIGHT-TO-LEFT OVERRIDE is not allowed: "
                                                            "it reorders the text around it")
    assert second["status"] == "ok"
    world.db.expire_all()
    assert world.db.scalar(select(Device).where(Device.serial_number.like("TX-%"))) is None


def test_the_csv_import_stores_names_and_labels_cleaned(world: World) -> None:
    response = _csv_import(world, "TX-BAR-0003,barrier,\ufeffSchranke\u200b West,einfahrt\u200b|Cafe\u0301\n")

    assert response.status_code == 201, response.text
    world.db.expire_all()
    device = world.db.scalar(select(Device).where(Device.serial_number == "TX-BAR-0003"))
    assert device is not None
    assert (device.name, device.labels) == ("Schranke West", ["einfahrt", "Café"])


def _cli_user_create(tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"LEITSTAND_DATABASE_URL": None, "LEITSTAND_CONFIG": None, "LEITSTAND_NEW_USER_PASSWORD": None,
           "COLUMNS": "200", "NO_COLOR": "1"}
    data_dir = str(tmp_path / "cli")
    assert runner.invoke(cli_app, ["init", "--data-dir", data_dir], env=env).exit_code == 0
    return runner.invoke(cli_app, ["user", "create", "ops@example.org", "--name", name, "--password",
                                   "a long enough secret", "--data-dir", data_dir], env=env)


def test_the_cli_refuses_a_reordering_character_in_a_user_name(tmp_path: Path) -> None:
    result = _cli_user_create(tmp_path, f"Ops {RLO}nimdA")

    assert result.exit_code == 2
    assert "U+202E" in result.output


def test_the_cli_stores_a_user_name_cleaned(tmp_path: Path) -> None:
    from leitstand.config import Settings
    from leitstand.db.engine import make_engine
    from leitstand.db.models import make_session_factory

    result = _cli_user_create(tmp_path, "\u200bOpe\u0301rations")

    assert result.exit_code == 0, result.output
    engine = make_engine(Settings(data_dir=tmp_path / "cli").effective_database_url)
    try:
        with system_session(make_session_factory(engine), reason="test check") as db:
            assert db.scalar(select(User.display_name).where(User.email == "ops@example.org")) == "Opérations"
    finally:
        engine.dispose()


def test_the_tenant_import_cleans_display_text_and_says_so(world: World, settings, session_factory,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path) -> None:
    # Written around the API, as an older version let it be.
    world.db.execute(text("UPDATE devices SET name = :name WHERE id = :id"),
                     {"name": f"Schranke {RLO}droN\u200b", "id": world.alpha.barrier.id})
    world.db.commit()
    with system_session(session_factory, reason="test export") as db:
        export_tenant(db, settings, world.alpha.customer.id, tmp_path / "alpha.zip")

    report = import_export(session_factory, settings, tmp_path / "alpha.zip", parent_tenant_id=world.beta.partner.id,
                           on_conflict="suffix")

    imported = world.db.get(Device, report.remapped["devices"][world.alpha.barrier.id])
    assert imported is not None and imported.name == "Schranke droN"
    assert any(note.startswith(f"devices {world.alpha.barrier.id}: name") for note in report.notes)
