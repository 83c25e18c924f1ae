"""The Things Stack v3: its webhooks in, its downlink queue API out.

Every webhook message is an `ApplicationUp`: `end_device_ids`, `correlation_ids`,
`received_at`, and one of `uplink_message`, `join_accept`, `downlink_queued`,
`downlink_sent`, `downlink_ack`, `downlink_nack`, `downlink_failed`, ... The message
type is read from that field, not from the path the webhook is configured with, so one
URL serves every message type. Empty fields are omitted (TTS's JSON marshaler).

Downlinks: `POST /api/v3/as/applications/{app}/webhooks/{webhook}/devices/{device}/down/replace`
with `Authorization: Bearer <API key>`. Replace, not push: only the latest target waits in
the queue (requirements DH2). Each downlink carries our correlation id
`leitstand:command:<command id>`, which TTS hands back on its queued, sent, ack, nack and
failed messages, so those name the command without a lookup.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from leitstand.transports.lorawan.network_events import (
    BadEvent, DownlinkReport, DownlinkStep, Ignored, Joined, Link, NetworkEvent, Uplink, dev_eui, integer, mapping,
    number, optional_mapping, payload, strongest, text, timestamp,
)

KIND = "tts"
COMMAND_CORRELATION = "leitstand:command:"
_DOWNLINK_STEPS = {
    "downlink_queued": DownlinkStep.queued,
    "downlink_sent": DownlinkStep.sent,
    "downlink_ack": DownlinkStep.acknowledged,
    "downlink_nack": DownlinkStep.failed,
}
IGNORED = ("location_solved", "service_data", "uplink_normalized", "downlink_queue_invalidated")


def parse_message(body: Any) -> NetworkEvent:
    body = mapping(body, "the message")
    ids = optional_mapping(body, "end_device_ids")
    device = dev_eui(ids.get("dev_eui"))
    correlation = _correlation_ids(body)
    at = timestamp(body, "received_at")
    if "uplink_message" in body:
        return _uplink(device, correlation, mapping(body["uplink_message"], "uplink_message"), at)
    if "join_accept" in body:
        return Joined(device, _event_id("join", correlation), at)
    for field, step in _DOWNLINK_STEPS.items():
        if field in body:
            downlink = mapping(body[field], field)
            return _downlink_report(device, field, correlation, downlink, at, step, "")
    if "downlink_failed" in body:
        failed = mapping(body["downlink_failed"], "downlink_failed")
        error = optional_mapping(failed, "error")
        reason = text(error, "name", required=False, limit=100) or "downlink failed"
        return _downlink_report(device, "downlink_failed", correlation, optional_mapping(failed, "downlink"), at,
                                DownlinkStep.failed, reason)
    for field in IGNORED:
        if field in body:
            return Ignored(field)
    raise BadEvent("the message carries none of the known message types")


def _correlation_ids(body: dict[str, Any]) -> list[str]:
    ids = body.get("correlation_ids") or []
    if not isinstance(ids, list) or not all(isinstance(entry, str) for entry in ids):
        raise BadEvent("correlation_ids must be a list of strings")
    return ids


def _event_id(kind: str, correlation: list[str]) -> str:
    """The message's own id: its Application Server correlation id (`as:up:<ULID>`, ...),
    else its first; prefixed with the kind, since a downlink's ids recur on each of its steps."""
    own = next((entry for entry in correlation if entry.startswith("as:")), correlation[0] if correlation else "")
    if not own:
        raise BadEvent("the message has no correlation id to tell it apart by")
    return f"{kind}:{own}"[:200]


def _uplink(device: str, correlation: list[str], uplink: dict[str, Any], at_application_server: Any) -> Uplink:
    heard = []
    gateways = []
    for entry in uplink.get("rx_metadata") or []:
        entry = mapping(entry, "an rx_metadata entry")
        gateway = text(optional_mapping(entry, "gateway_ids"), "gateway_id", required=False, limit=64) or None
        if gateway:
            gateways.append(gateway)
        heard.append((gateway, number(entry, "rssi"), number(entry, "snr")))
    gateway, rssi, snr = strongest(heard)
    lora = optional_mapping(optional_mapping(optional_mapping(uplink, "settings"), "data_rate"), "lora")
    # The network server's reception time, where given; the application server's otherwise.
    at = timestamp(uplink, "received_at") if uplink.get("received_at") else at_application_server
    port = integer(uplink, "f_port")
    return Uplink(
        dev_eui=device, event_id=_event_id("up", correlation), at=at, port=port if port else None,
        payload=payload(uplink.get("frm_payload")),
        link=Link(gateway_id=gateway, rssi=rssi, snr=snr, spreading_factor=integer(lora, "spreading_factor"),
                  frame_counter=integer(uplink, "f_cnt") or 0, gateways=tuple(gateways)),
    )


def _downlink_report(device: str, kind: str, correlation: list[str], downlink: dict[str, Any], at: Any,
                     step: DownlinkStep, detail: str) -> DownlinkReport:
    ours = [entry for entry in [*(downlink.get("correlation_ids") or []), *correlation]
            if isinstance(entry, str) and entry.startswith(COMMAND_CORRELATION)]
    command_id = ours[0].removeprefix(COMMAND_CORRELATION) if ours else None
    return DownlinkReport(device, _event_id(kind, correlation), at, step, command_id=command_id, detail=detail)


class ThingsStackClient:
    """The downlink queue of one TTS application webhook, for one connection's API key."""

    def __init__(self, base_url: str, api_key: str, application_id: str, webhook_id: str, *, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                 headers={"Authorization": f"Bearer {api_key}"})
        self.prefix = f"/api/v3/as/applications/{application_id}/webhooks/{webhook_id}/devices"

    def replace(self, device_id: str, port: int, data: bytes, *, confirmed: bool, command_id: str) -> None:
        """Make this downlink the only one queued for the device. Raises httpx errors."""
        downlink = {"f_port": port, "frm_payload": base64.b64encode(data).decode(), "priority": "NORMAL",
                    "confirmed": confirmed, "correlation_ids": [f"{COMMAND_CORRELATION}{command_id}"]}
        response = self.http.post(f"{self.prefix}/{device_id}/down/replace", json={"downlinks": [downlink]})
        response.raise_for_status()

    def close(self) -> None:
        self.http.close()
