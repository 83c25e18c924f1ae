"""From a network server's event to the device messages ingest takes, whichever server sent it.

An uplink's bytes are decoded by the codec its device's type declares; its readings are
stamped with the network server's time, not ours. How the uplink was heard (RSSI, SNR,
spreading factor, frame counter) becomes link telemetry, for the keys the type declares,
and the gateway that heard it best becomes the device's `gateway` attribute, so that the
gateway's own device counts the uplink as a sign of life. A (re)join becomes the event
`network.joined`; a report on one of our downlinks moves its command along.
"""

from __future__ import annotations

from datetime import datetime

from leitstand.devicetypes.codecs import CodecError, UplinkContext, codec_for
from leitstand.devicetypes.spec import DeviceTypeSpec
from leitstand.ingest.message import (
    NETWORK_JOINED, BindingKey, CommandOutcome, DeviceMessage, MessageKind, Reading,
)
from leitstand.transports.lorawan.network_events import (
    DeviceStatus, DownlinkReport, DownlinkStep, Joined, NetworkEvent, Uplink,
)

LINK_KEYS = ("rssi", "snr", "spreading_factor", "frame_counter")
_OUTCOMES = {
    DownlinkStep.queued: CommandOutcome.queued,
    DownlinkStep.sent: CommandOutcome.sent,
    DownlinkStep.acknowledged: CommandOutcome.succeeded,  # a confirmed downlink the device acknowledged
    DownlinkStep.failed: CommandOutcome.failed,
}


def messages_of(event: NetworkEvent, binding: BindingKey, spec: DeviceTypeSpec | None,
                received_at: datetime) -> list[DeviceMessage]:
    """The device messages of one event; `spec` is None for a binding no device has (ingest
    then refuses and counts the stranger). Raises CodecError for bytes the codec refuses."""
    if isinstance(event, Uplink):
        if spec is None:
            return [DeviceMessage.via(binding, MessageKind.heartbeat, received_at)]
        return _uplink(event, binding, spec, received_at)
    if isinstance(event, Joined):
        return [DeviceMessage.via(binding, MessageKind.event, received_at, sent_at=event.at, event_code=NETWORK_JOINED)]
    if isinstance(event, DownlinkReport):
        if event.command_id is None and event.network_ref is None:
            return []  # a downlink someone else queued (the network server's console, say)
        return [DeviceMessage.via(binding, MessageKind.command_result, received_at, sent_at=event.at,
                                  command_id=event.command_id, command_network_ref=event.network_ref,
                                  command_outcome=_OUTCOMES[event.step], command_detail=event.detail)]
    if isinstance(event, DeviceStatus) and spec is not None and event.battery_percent is not None:
        if any(key.key == "battery" for key in spec.telemetry):
            return [DeviceMessage.via(binding, MessageKind.telemetry, received_at,
                                      readings=(Reading("battery", event.at, event.battery_percent),))]
    return []


def _uplink(event: Uplink, binding: BindingKey, spec: DeviceTypeSpec, received_at: datetime) -> list[DeviceMessage]:
    decoded = codec_for(spec).decode_uplink(event.payload, UplinkContext(received_at=event.at, port=event.port))
    found = decoded.messages(binding.external_id, received_at, binding=binding)
    declared = {key.key for key in spec.telemetry}
    link = event.link
    values = {"rssi": link.rssi, "snr": link.snr, "spreading_factor": link.spreading_factor,
              "frame_counter": link.frame_counter}
    readings = tuple(Reading(key, event.at, value) for key, value in values.items()
                     if value is not None and key in declared)
    if readings:
        found.append(DeviceMessage.via(binding, MessageKind.telemetry, received_at, readings=readings))
    if link.gateway_id:
        found.append(DeviceMessage.via(binding, MessageKind.attributes, received_at,
                                       attributes={"gateway": link.gateway_id}))
    if not found:  # an uplink with nothing to store still shows the device is alive
        found.append(DeviceMessage.via(binding, MessageKind.heartbeat, received_at))
    return found


__all__ = ["CodecError", "LINK_KEYS", "messages_of"]
