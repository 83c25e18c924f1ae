"""ChirpStack v4: its HTTP integration's events in, its device queue API out.

Events arrive as `POST <our webhook>?event=up|join|ack|txack|status|log|location|integration`
with the JSON marshaler: protobuf JSON names (lowerCamelCase), bytes as base64, times as
RFC 3339. ChirpStack signs nothing; the connection's secret travels in a header the
integration is configured to send (see `leitstand.transports.lorawan.api`). It does not
retry either, so the webhook stores first and answers fast.

Downlinks go to the REST proxy of its gRPC API: `POST /api/devices/{devEui}/queue` with
`Grpc-Metadata-Authorization: Bearer <API key>`, answered with the queue item's id, which
`txack` and `ack` name again later.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import httpx

from leitstand.transports.lorawan.network_events import (
    BadEvent, DeviceStatus, DownlinkReport, DownlinkStep, Ignored, Joined, Link, NetworkEvent, Uplink, dev_eui, identifier,
    integer, mapping, number, optional_mapping, payload, strongest, text, timestamp,
)

KIND = "chirpstack"
EVENTS = ("up", "join", "ack", "txack", "status", "log", "location", "integration")
# The log codes that mean one of our downlinks will not reach the device.
DOWNLINK_FAILURES = frozenset({"DOWNLINK_PAYLOAD_SIZE", "DOWNLINK_CODEC", "DOWNLINK_GATEWAY", "F_CNT_DOWN", "EXPIRED"})


def parse_event(event: str, body: Any) -> NetworkEvent:
    """One HTTP-integration event; `event` is the query string's `event` parameter."""
    if event not in EVENTS:
        raise BadEvent(f"unknown ChirpStack event {event!r}; known: {', '.join(EVENTS)}")
    body = mapping(body, "the event")
    device = dev_eui(optional_mapping(body, "deviceInfo").get("devEui"))
    if event == "up":
        return _uplink(device, body)
    if event == "join":
        return Joined(device, text(body, "deduplicationId"), timestamp(body, "time"))
    if event == "txack":
        return DownlinkReport(device, f"txack:{identifier(body, 'downlinkId')}", timestamp(body, "time"), DownlinkStep.sent,
                              network_ref=text(body, "queueItemId"))
    if event == "ack":
        acknowledged = body.get("acknowledged", False)  # false is the default, and then omitted
        if not isinstance(acknowledged, bool):
            raise BadEvent("acknowledged must be true or false")
        return DownlinkReport(
            device, text(body, "deduplicationId"), timestamp(body, "time"),
            DownlinkStep.acknowledged if acknowledged else DownlinkStep.failed,
            network_ref=text(body, "queueItemId"),
            detail="" if acknowledged else "the device did not acknowledge the confirmed downlink")
    if event == "status":
        return DeviceStatus(device, text(body, "deduplicationId"), timestamp(body, "time"),
                            battery_percent=None if body.get("batteryLevelUnavailable") else number(body, "batteryLevel"),
                            margin=integer(body, "margin"))
    if event == "log":
        return _log(device, body)
    return Ignored(event)


def _uplink(device: str, body: dict[str, Any]) -> Uplink:
    heard = []
    gateways = []
    for entry in body.get("rxInfo") or []:
        entry = mapping(entry, "an rxInfo entry")
        gateway = text(entry, "gatewayId", required=False, limit=64).lower() or None
        if gateway:
            gateways.append(gateway)
        heard.append((gateway, number(entry, "rssi"), number(entry, "snr")))
    gateway, rssi, snr = strongest(heard)
    lora = optional_mapping(optional_mapping(optional_mapping(body, "txInfo"), "modulation"), "lora")
    port = integer(body, "fPort")
    return Uplink(
        dev_eui=device, event_id=text(body, "deduplicationId"), at=timestamp(body, "time"),
        port=port if port else None, payload=payload(body.get("data")),
        link=Link(gateway_id=gateway, rssi=rssi, snr=snr, spreading_factor=integer(lora, "spreadingFactor"),
                  frame_counter=integer(body, "fCnt") or 0, gateways=tuple(gateways)),
    )


def _log(device: str, body: dict[str, Any]) -> NetworkEvent:
    code = text(body, "code", required=False, limit=64)
    if code not in DOWNLINK_FAILURES:
        return Ignored(f"log {code or 'UNKNOWN'}")
    context = optional_mapping(body, "context")
    reference = context.get("queue_item_id") or context.get("queueItemId")
    at = timestamp(body, "time")
    # A log line has no id of its own: its time and code name it for deduplication.
    return DownlinkReport(device, f"log:{code}:{at.isoformat()}", at, DownlinkStep.failed,
                          network_ref=reference if isinstance(reference, str) else None,
                          detail=f"{code}: {text(body, 'description', required=False, limit=300)}".strip(": "))


class ChirpStackClient:
    """The device queue of one ChirpStack (its REST API), for one connection's API key."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                 headers={"Grpc-Metadata-Authorization": f"Bearer {api_key}"})

    def enqueue(self, device: str, port: int, data: bytes, *, confirmed: bool, expires_at: datetime | None) -> str:
        """Queue a downlink; returns ChirpStack's id for it. Raises httpx errors."""
        item: dict[str, Any] = {"confirmed": confirmed, "fPort": port, "data": base64.b64encode(data).decode()}
        if expires_at is not None:
            item["expiresAt"] = expires_at.isoformat().replace("+00:00", "Z")
        response = self.http.post(f"/api/devices/{device}/queue", json={"queueItem": item})
        response.raise_for_status()
        reference = response.json().get("id")
        if not isinstance(reference, str) or not reference:
            raise httpx.HTTPError("ChirpStack answered the enqueue without an id")
        return reference

    def flush(self, device: str) -> None:
        """Empty the device's queue, so that only the next downlink waits there."""
        self.http.delete(f"/api/devices/{device}/queue").raise_for_status()

    def close(self) -> None:
        self.http.close()
