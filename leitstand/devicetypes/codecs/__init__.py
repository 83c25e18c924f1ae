"""Codecs: a device's own bytes to canonical parts and back, declared by its type.

A device-type TOML names its codec: `codec = "thermostat-binary-v1"`. A type that names
none speaks the native Leitstand JSON v1 protocol (`leitstand-json-v1`), whose
transports decode it themselves; `codec_for(spec).native` says so.

A transport that carries a device's own payloads (LoRaWAN, say) uses it like this:

    spec = spec_for(device.type_key)                       # leitstand.devicetypes.spec
    codec = codec_for(spec)
    try:
        decoded = codec.decode_uplink(payload, UplinkContext(received_at=now, port=f_port))
    except CodecError as error:                            # error.reason: a RejectReason value
        ...refuse and count the uplink
    ingest(decoded.messages(serial, now))                  # canonical DeviceMessages
    ...
    frame = codec.encode_downlink(command_request)         # bytes, or CodecError

A codec is pure: bytes in, canonical parts out (readings in the units the type
declares), no I/O and no clock. A payload it cannot read raises `CodecError` with a
reason, never another exception; bytes it does not know but can skip become
`Decoded.warnings`.

Adding a codec is adding one module here that defines `CODEC = Codec(key=..., decoder=...,
encoder=...)`; the registry finds it by its key (`registry.discover`). A TOML naming a key
no module registers fails validation when the catalogue is loaded, naming the file.
"""

from leitstand.devicetypes.codecs.registry import (
    DEFAULT_CODEC_KEY,
    Codec,
    CodecError,
    Decoded,
    DecodedEvent,
    UnknownCodec,
    UplinkContext,
    codec_for,
    codec_named,
    registered,
)

__all__ = ["DEFAULT_CODEC_KEY", "Codec", "CodecError", "Decoded", "DecodedEvent", "UnknownCodec", "UplinkContext",
           "codec_for", "codec_named", "registered"]
