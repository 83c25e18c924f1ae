"""The device-type catalogue: every file valid, codecs named by registered keys, and
`spec_for` the one lookup of a type's declaration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import leitstand
from leitstand.devicetypes.codecs import DEFAULT_CODEC_KEY, codec_for
from leitstand.devicetypes.models import DeviceType
from leitstand.devicetypes.spec import (
    CATALOG_DIR,
    CatalogError,
    DeviceTypeSpec,
    Text,
    UnknownDeviceType,
    extra_catalog,
    spec_for,
    type_keys,
)
from leitstand.tenancy.models import Tenant
from leitstand.tenancy.scope import AccessScope, bind_scope

SOURCE = Path(leitstand.__file__).parent
MINIMAL = 'key = "{key}"\ncategory = "sensor"\nheartbeat_seconds = 60\nname = {{ en = "X", de = "X" }}\n'


# The shipped LoRaWAN models, each with its own codec; every other shipped type speaks the native protocol.
VENDOR_CODECS = {"milesight_wt101": "milesight-wt101", "milesight_ws301": "milesight-ws301",
                 "mclimate_vicki": "mclimate-vicki", "micropelt_mlr003": "micropelt-mlr003"}


def test_every_shipped_type_is_found_through_spec_for_and_names_a_registered_codec() -> None:
    shipped = sorted(path.stem for path in CATALOG_DIR.glob("*.toml"))
    assert type_keys() == shipped
    for key in shipped:
        spec = spec_for(key)
        assert spec.key == key
        assert spec.codec == VENDOR_CODECS.get(key, DEFAULT_CODEC_KEY)
        assert codec_for(spec).key == spec.codec
        assert codec_for(spec).native is (key not in VENDOR_CODECS)


def test_a_type_naming_an_unknown_codec_is_refused_at_load_naming_its_file(tmp_path: Path) -> None:
    path = tmp_path / "odd_sensor.toml"
    path.write_text(MINIMAL.format(key="odd_sensor") + 'codec = "no-such-codec"\n')
    with pytest.raises(CatalogError) as refused, extra_catalog(tmp_path):
        pass
    assert str(path) in str(refused.value)
    assert "unknown codec 'no-such-codec'" in str(refused.value)
    with pytest.raises(UnknownDeviceType):
        spec_for("odd_sensor")  # and the catalogue is as it was


def test_a_type_naming_no_codec_speaks_the_native_protocol(tmp_path: Path) -> None:
    (tmp_path / "plain_sensor.toml").write_text(MINIMAL.format(key="plain_sensor"))
    with extra_catalog(tmp_path):
        assert spec_for("plain_sensor").codec == DEFAULT_CODEC_KEY
        assert codec_for(spec_for("plain_sensor")).native


def test_a_key_declared_twice_is_refused_naming_both_files(tmp_path: Path) -> None:
    (tmp_path / "again.toml").write_text(MINIMAL.format(key="barrier"))
    with pytest.raises(CatalogError, match=r"again\.toml.*barrier.*barrier\.toml"), extra_catalog(tmp_path):
        pass


def test_an_unknown_type_key_is_refused() -> None:
    with pytest.raises(UnknownDeviceType):
        spec_for("no_such_type")


def test_the_test_type_is_declared_only_while_its_fixture_runs(binary_thermostat: DeviceTypeSpec) -> None:
    assert binary_thermostat.codec == "thermostat-binary-v1"
    assert "binary_thermostat" in type_keys()


def _tenant_type(db: Session, key: str, heartbeat: int) -> DeviceType:
    tenant = db.query(Tenant).filter(Tenant.parent_id.is_(None)).one()
    spec = DeviceTypeSpec(key=key, name=Text(en="Own type", de="Eigener Typ"), category="sensor",
                          heartbeat_seconds=heartbeat)
    row = db.get(DeviceType, key) or DeviceType(key=key, tenant_id=tenant.id, name="Own type", category="sensor")
    row.spec = spec.model_dump(mode="json")
    db.add(row)
    db.flush()
    return row


def test_a_tenants_own_type_is_found_through_spec_for_with_a_session_that_sees_it(
        system_db: Session, session_factory) -> None:  # type: ignore[no-untyped-def]
    _tenant_type(system_db, "own_sensor", heartbeat=600)
    system_db.commit()
    assert spec_for("own_sensor", system_db).heartbeat_seconds == 600
    with pytest.raises(UnknownDeviceType):
        spec_for("own_sensor")  # not in the catalogue: only its row declares it

    _tenant_type(system_db, "own_sensor", heartbeat=300)
    system_db.commit()
    assert spec_for("own_sensor", system_db).heartbeat_seconds == 300  # the cache follows the row

    stranger = bind_scope(session_factory(), AccessScope(tenant_paths=frozenset({"/999999/"}), reason="test"))
    try:
        with pytest.raises(UnknownDeviceType):
            spec_for("own_sensor", stranger)  # another tenant's session does not see it, cached or not
        assert spec_for("barrier", stranger).key == "barrier"  # shipped types are everyone's
    finally:
        stranger.close()


def _modules_outside_devicetypes() -> list[tuple[Path, str]]:
    return [(path, path.read_text()) for path in sorted(SOURCE.rglob("*.py"))
            if SOURCE / "devicetypes" not in path.parents]


def test_no_module_outside_devicetypes_reads_the_catalogue_or_a_row_spec_itself() -> None:
    """Every caller goes through `spec_for` (one lookup, one cache), never `shipped_types()`
    or a `DeviceType` row's stored spec validated on its own."""
    pattern = re.compile(r"\bshipped_types\(|DeviceTypeSpec\.model_validate\(|\.spec\.get\(|\.spec or \{\}")
    offenders = [f"{path.relative_to(SOURCE)}: {match.group(0)}"
                 for path, text in _modules_outside_devicetypes() for match in pattern.finditer(text)]
    assert offenders == []
