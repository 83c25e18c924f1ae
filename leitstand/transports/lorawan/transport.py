"""LoRaWAN through a tenant's network servers: the transport of the registry.

A connection (`DeviceConnection`, transport "lorawan") is one network server:

    settings: network_server   "chirpstack" | "tts"
              base_url          the server's API, e.g. https://chirpstack.example.net
              application_id    TTS: the application; ChirpStack: informational
              webhook_id        TTS: the webhook whose downlink API is used
              device_id_format  TTS: how its device ids follow from the DevEUI (default "eui-{dev_eui}")
              confirmed         whether downlinks are sent confirmed (default false)
    secrets:  api_key           for the downlink API (ChirpStack API key, TTS NNSXS.… key)
              webhook_secret    what the server sends in the `X-Leitstand-Webhook-Secret` header

Devices are bound to a connection by DevEUI (`DeviceBinding`, external id = lower-case DevEUI).
Uplinks arrive at the webhook (`leitstand.transports.lorawan.api`); commands leave here, by
`deliver`: the codec of the device's type encodes the command, and the network server queues
it for the device's next uplink. Only the latest downlink stays queued (DH2): TTS's
`replace`, ChirpStack's flush before the enqueue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from leitstand.auth.secrets import SecretBox
from leitstand.devices.connections import open_secrets
from leitstand.devices.bindings import bound_type_key
from leitstand.devices.models import DeviceConnection
from leitstand.devicetypes.codecs import CodecError, codec_for
from leitstand.devicetypes.spec import spec_for
from leitstand.ingest.message import CommandRequest
from leitstand.tenancy.scope import system_session
from leitstand.transports.base import DeliveryFailed, Handover, Receipt, TransportContext
from leitstand.transports.lorawan import chirpstack, things_stack

log = logging.getLogger(__name__)

LORAWAN = "lorawan"  # the transport's name, and the binding transport it delivers to
NETWORK_SERVERS = (chirpstack.KIND, things_stack.KIND)
DEFAULT_DEVICE_ID_FORMAT = "eui-{dev_eui}"


@dataclass(frozen=True)
class NetworkServer:
    """One connection's settings and secrets, as the transport needs them."""

    connection_id: int
    kind: str
    base_url: str
    api_key: str
    application_id: str = ""
    webhook_id: str = ""
    device_id_format: str = DEFAULT_DEVICE_ID_FORMAT
    confirmed: bool = False

    @classmethod
    def of(cls, connection: DeviceConnection, secrets: dict[str, Any]) -> NetworkServer:
        settings = connection.settings or {}
        kind = settings.get("network_server")
        if kind not in NETWORK_SERVERS:
            raise DeliveryFailed(f"connection {connection.id} names no network server ({', '.join(NETWORK_SERVERS)})")
        if not settings.get("base_url") or not secrets.get("api_key"):
            raise DeliveryFailed(f"connection {connection.id} has no base URL or API key for downlinks")
        return cls(connection.id, kind, str(settings["base_url"]), str(secrets["api_key"]),
                   application_id=str(settings.get("application_id", "")), webhook_id=str(settings.get("webhook_id", "")),
                   device_id_format=str(settings.get("device_id_format") or DEFAULT_DEVICE_ID_FORMAT),
                   confirmed=bool(settings.get("confirmed", False)))


class LorawanTransport:
    name = LORAWAN

    def __init__(self, context: TransportContext) -> None:
        self.context = context
        # Tests point the clients at a local stand-in of the network server's API.
        self.http_transport: httpx.BaseTransport | None = context.options.get("lorawan_http_transport")
        self.secret_box = SecretBox(context.settings.resolved_secret_key())

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def deliver(self, request: CommandRequest) -> Receipt:
        binding = request.binding
        if binding is None or binding.connection_id is None:
            raise DeliveryFailed("a LoRaWAN command needs the device's binding to a network server")
        server, type_key = self._server_and_type(binding.connection_id, binding.external_id)
        codec = codec_for(spec_for(type_key))
        try:
            data = codec.encode_downlink(request)
        except CodecError as error:
            raise DeliveryFailed(f"the command cannot be encoded: {error.detail}") from None
        port = codec.port_for(request)
        if not port:
            raise DeliveryFailed(f"codec {codec.key} names no downlink port")
        try:
            if server.kind == chirpstack.KIND:
                return Receipt(Handover.queued, self._chirpstack(server, binding.external_id, port, data, request))
            self._things_stack(server, binding.external_id, port, data, request)
            return Receipt(Handover.queued)
        except httpx.HTTPStatusError as error:
            raise DeliveryFailed(f"the network server refused the downlink: HTTP {error.response.status_code}") from None
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"the network server could not be reached: {type(error).__name__}") from None

    def _server_and_type(self, connection_id: int, dev_eui: str) -> tuple[NetworkServer, str]:
        with system_session(self.context.session_factory, reason="LoRaWAN downlink") as db:
            connection = db.get(DeviceConnection, connection_id)
            if connection is None or connection.transport != LORAWAN:
                raise DeliveryFailed(f"no LoRaWAN connection {connection_id}")
            server = NetworkServer.of(connection, open_secrets(connection, self.secret_box))
            type_key = bound_type_key(db, connection_id, dev_eui)
        if type_key is None:
            raise DeliveryFailed(f"no device is bound as {dev_eui} on connection {connection_id}")
        return server, type_key

    def _chirpstack(self, server: NetworkServer, dev_eui: str, port: int, data: bytes, request: CommandRequest) -> str:
        client = chirpstack.ChirpStackClient(server.base_url, server.api_key, transport=self.http_transport)
        try:
            client.flush(dev_eui)  # only the latest downlink waits for the device (DH2)
            return client.enqueue(dev_eui, port, data, confirmed=server.confirmed, expires_at=request.expires_at)
        finally:
            client.close()

    def _things_stack(self, server: NetworkServer, dev_eui: str, port: int, data: bytes, request: CommandRequest) -> None:
        client = things_stack.ThingsStackClient(server.base_url, server.api_key, server.application_id,
                                                server.webhook_id, transport=self.http_transport)
        try:
            device_id = server.device_id_format.format(dev_eui=dev_eui.lower())
            client.replace(device_id, port, data, confirmed=server.confirmed, command_id=request.command_id)
        finally:
            client.close()
