"""What the codec tests share: a command as the command service hands it over, and the check that
a codec turns any bytes into canonical parts or a CodecError, never anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leitstand.devicetypes.codecs import Codec, CodecError, UplinkContext
from leitstand.ingest.message import CommandRequest

AT = datetime(2026, 12, 3, 7, 30, tzinfo=UTC)


def command(name: str, serial: str = "DEVICE-1", **parameters: object) -> CommandRequest:
    return CommandRequest(serial=serial, command_id="c-1", name=name, parameters=parameters,
                          expires_at=AT + timedelta(hours=1))


def decodes_or_refuses(codec: Codec, payload: bytes, port: int | None) -> None:
    """For the codecs' property tests: a payload is decoded, or refused as malformed or a bad value."""
    try:
        codec.decode_uplink(payload, UplinkContext(received_at=AT, port=port))
    except CodecError as error:
        assert error.reason in {"malformed", "bad_value"}
