"""The native Leitstand JSON v1 protocol (topics `ls/v1/...`, over MQTT or HTTP).

Its payloads are canonical messages already, and the native transports decode them
(leitstand/transports: the JSON v1 codec). The entry exists so that every type names
a codec, and so that a type speaking it is recognisable: `codec_for(spec).native`.
"""

from __future__ import annotations

from leitstand.devicetypes.codecs.registry import DEFAULT_CODEC_KEY, Codec

CODEC = Codec(key=DEFAULT_CODEC_KEY, native=True,
              description="Leitstand JSON v1: canonical messages, decoded by the native transports")
