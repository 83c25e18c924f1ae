"""QR labels: the payload format, and `leitstand devices qr` writing SVG and PNG (segno)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import segno
from typer.testing import CliRunner

from leitstand.cli import app as cli_app
from leitstand.devices.claiming import label_qr, parse_qr_payload, qr_payload

SERIAL, SECRET = "NT-BAR-0001", "printed-label-0001"


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli_app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_the_payload_format_round_trips():
    payload = qr_payload(SERIAL, SECRET)

    assert payload == "LS1:NT-BAR-0001:printed-label-0001"
    assert parse_qr_payload(payload) == (SERIAL, SECRET)
    assert parse_qr_payload(f"  {payload}\n") == (SERIAL, SECRET)


@pytest.mark.parametrize("text", [
    "", "LS1:", "LS1:NT-BAR-0001", "LS2:NT-BAR-0001:printed-label-0001", "https://example.com/claim?s=a&c=b",
    "LS1:NT BAR:printed-label-0001", "LS1:NT-BAR-0001:short", "LS1:NT-BAR-0001:printed-label-0001:extra",
])
def test_anything_else_is_not_a_label(text):
    with pytest.raises(ValueError):
        parse_qr_payload(text)


def test_the_qr_code_encodes_exactly_the_payload():
    qr = label_qr(SERIAL, SECRET)

    # segno is deterministic: the same data, error level and version give the same matrix.
    expected = segno.make(qr_payload(SERIAL, SECRET), error=qr.error, version=qr.version, micro=False, boost_error=False,
                          mask=qr.mask)
    assert qr.matrix == expected.matrix
    assert qr.designator.startswith(str(qr.version))
    assert qr.error in ("M", "Q", "H")  # at least M, for scratched labels


def test_cli_writes_an_svg_with_a_qr_path(tmp_path: Path):
    out = tmp_path / "label.svg"

    result = invoke("devices", "qr", "--serial", SERIAL, "--secret", SECRET, "--out", str(out))

    assert result.exit_code == 0, result.output
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert '<path' in svg and 'class="qrline"' in svg
    assert f"<title>{SERIAL}</title>" in svg
    assert SECRET not in svg  # the secret is only in the modules, not readable as text


def test_cli_writes_a_png(tmp_path: Path):
    out = tmp_path / "label.png"

    result = invoke("devices", "qr", "--serial", SERIAL, "--secret", SECRET, "--out", str(out), "--scale", "4")

    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    modules = label_qr(SERIAL, SECRET).symbol_size(scale=4, border=4)
    assert (width, height) == modules


def test_cli_refuses_what_could_not_be_claimed(tmp_path: Path):
    result = invoke("devices", "qr", "--serial", "bad serial", "--secret", SECRET, "--out", str(tmp_path / "x.svg"))

    assert result.exit_code != 0
    assert not (tmp_path / "x.svg").exists()
    assert invoke("devices", "qr", "--serial", SERIAL, "--secret", SECRET, "--out", str(tmp_path / "x.gif")).exit_code != 0


def test_cli_bulk_labels_from_csv(tmp_path: Path):
    source = tmp_path / "secrets.csv"
    source.write_text("serial_number,claim_secret\nNT-BAR-0001,printed-label-0001\nNT-BAR-0002,printed-label-0002\n"
                      "NT-BAR-0003,\n")
    out_dir = tmp_path / "labels"

    result = invoke("devices", "qr", "--csv", str(source), "--out-dir", str(out_dir), "--format", "png")

    assert result.exit_code == 1  # row 4 has no secret: reported, the others written
    assert "row 4" in result.output
    assert sorted(path.name for path in out_dir.iterdir()) == ["NT-BAR-0001.png", "NT-BAR-0002.png"]
