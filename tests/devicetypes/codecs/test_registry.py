"""The codec registry: codecs found by their module's `CODEC`, looked up by key, and never
letting a codec's own slip escape as anything but a `CodecError`."""

from __future__ import annotations

import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from leitstand.devicetypes.codecs import Codec, CodecError, Decoded, UnknownCodec, UplinkContext, codec_named
from leitstand.devicetypes.codecs.registry import discover

AT = datetime(2026, 12, 3, tzinfo=UTC)


def test_the_shipped_codecs_are_registered_by_their_keys() -> None:
    assert codec_named("leitstand-json-v1").native
    assert not codec_named("thermostat-binary-v1").native
    assert not codec_named("milesight-wt101").native
    assert not codec_named("milesight-ws301").native
    assert not codec_named("mclimate-vicki").native
    assert not codec_named("micropelt-mlr003").native


def test_an_unknown_key_names_the_registered_ones() -> None:
    with pytest.raises(UnknownCodec, match=r"'nope' \(registered: leitstand-json-v1, (.+, )?thermostat-binary-v1\)"):
        codec_named("nope")


def test_the_native_entry_refuses_payloads_its_transport_decodes() -> None:
    with pytest.raises(CodecError) as refused:
        codec_named("leitstand-json-v1").decode_uplink(b'{"values": {}}', UplinkContext(received_at=AT))
    assert refused.value.reason == "malformed"


def _package(tmp_path: Path, name: str, modules: dict[str, str]) -> ModuleType:
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(tmp_path))


CODEC_MODULE = """
    from leitstand.devicetypes.codecs import Codec, Decoded
    CODEC = Codec(key="{key}", description="test", decoder=lambda payload, context: Decoded())
"""


def test_a_module_registers_its_codec_by_defining_CODEC(tmp_path: Path) -> None:
    package = _package(tmp_path, "codecs_found", {"first": CODEC_MODULE.format(key="first-v1"),
                                                  "helpers": "TABLE = {}\n"})
    assert sorted(discover(package)) == ["first-v1"]


def test_two_modules_claiming_one_key_are_refused(tmp_path: Path) -> None:
    package = _package(tmp_path, "codecs_twice", {"one": CODEC_MODULE.format(key="same-v1"),
                                                  "two": CODEC_MODULE.format(key="same-v1")})
    with pytest.raises(ValueError, match="registered twice"):
        discover(package)


def test_a_codecs_own_slip_on_odd_bytes_is_a_malformed_payload() -> None:
    def careless(payload: bytes, context: UplinkContext) -> Decoded:
        return Decoded(warnings=(str(payload[5]),))  # IndexError on a short payload

    with pytest.raises(CodecError) as refused:
        Codec(key="careless-v1", description="test", decoder=careless).decode_uplink(b"\x01", UplinkContext(received_at=AT))
    assert refused.value.reason == "malformed"
    assert "IndexError" in refused.value.detail
