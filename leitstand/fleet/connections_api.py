"""A tenant's network-server connections, and the bindings that reach devices through them.

    GET/POST          /api/v1/connections
    GET/PATCH/DELETE  /api/v1/connections/{connection_id}
    GET/POST          /api/v1/devices/{device_id}/bindings
    DELETE            /api/v1/devices/{device_id}/bindings/{binding_id}

A connection's secrets (the network server's API key) are written, never read back: the API
answers `has_api_key`. Its webhook secret is made here and shown once, when the connection is
created or the secret rotated; the network server sends it with every event.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leitstand.devices.bindings import BindingRefused, bind_device
from leitstand.devices.connections import EXTERNAL_IDS, open_secrets, set_secrets
from leitstand.devices.models import NATIVE_TRANSPORT, Device, DeviceBinding, DeviceConnection
from leitstand.permissions import Permission
from leitstand.tenancy.models import Tenant
from leitstand.web.crud import Resource, get_visible, read_page, resource_routes
from leitstand.web.deps import Access, requires
from leitstand.web.errors import conflict, invalid_field, not_found
from leitstand.web.types import UNCHANGED, FilterId, Flag, Input, RefId, WebUrl, Limit, Name, ObjectId, Offset, Page, PageRequest, Patch

router = APIRouter(tags=["connections"])
Reader = Annotated[Access, requires(Permission.device_read)]
Writer = Annotated[Access, requires(Permission.device_write)]

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100, pattern=r"^[A-Za-z0-9_.@-]*$")]


class LorawanSettings(Input):
    network_server: Literal["chirpstack", "tts"]
    base_url: WebUrl = Field(description="The network server's API, e.g. https://eu1.cloud.thethings.network")
    application_id: Identifier = ""
    webhook_id: Identifier = Field("", description="TTS: the webhook whose downlink API Leitstand uses.")
    device_id_format: Annotated[str, StringConstraints(max_length=100, pattern=r"^[A-Za-z0-9_.{}-]*\{dev_eui\}[A-Za-z0-9_.{}-]*$")] | None = Field(
        None, description="TTS: its device ids from the DevEUI (default `eui-{dev_eui}`).")
    confirmed: Flag = Field(False, description="Send downlinks as confirmed (the device acknowledges each).")


class ConnectionCreate(Input):
    tenant_id: RefId
    name: Name
    transport: Literal["lorawan"] = "lorawan"
    settings: LorawanSettings
    api_key: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        None, description="For downlinks; stored sealed, never returned.")


class ConnectionUpdate(Patch):
    name: Name = UNCHANGED
    settings: LorawanSettings = UNCHANGED
    api_key: Annotated[str, StringConstraints(min_length=1, max_length=500)] = UNCHANGED
    rotate_webhook_secret: Flag = False


class ConnectionPublic(BaseModel):
    id: int
    tenant_id: int
    name: str
    transport: str
    settings: dict[str, Any]
    has_api_key: bool
    webhook_path: str = Field(description="Where the network server posts its events, below the API.")


class ConnectionWithSecret(ConnectionPublic):
    webhook_secret: str = Field(description="Shown once: the network server sends it in X-Leitstand-Webhook-Secret.")


class BindingCreate(Input):
    connection_id: RefId
    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)] = Field(
        description="How the connection names the device: a LoRaWAN DevEUI (16 hex digits).")


class BindingPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    device_id: int
    transport: str
    connection_id: int | None
    external_id: str


def _webhook_path(connection: DeviceConnection) -> str:
    kind = (connection.settings or {}).get("network_server", "")  # the transport's path for that server
    return f"/api/v1/lorawan/{connection.id}/{kind}" + ("?event={event}" if kind == "chirpstack" else "")


def _present(request_box: Any, connection: DeviceConnection) -> ConnectionPublic:
    return ConnectionPublic(
        id=connection.id, tenant_id=connection.tenant_id, name=connection.name, transport=connection.transport,
        settings=dict(connection.settings or {}), has_api_key=bool(open_secrets(connection, request_box).get("api_key")),
        webhook_path=_webhook_path(connection))


def _settings(settings: LorawanSettings) -> dict[str, Any]:
    values = settings.model_dump(exclude_none=True)
    values["base_url"] = settings.base_url.rstrip("/")
    return values


def _commit_unique(db: Session, what: str) -> None:
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise conflict(what) from None


@router.post("/connections", response_model=ConnectionWithSecret, status_code=201)
def create_connection(body: ConnectionCreate, request: Request, access: Writer) -> ConnectionWithSecret:
    tenant = get_visible(access.db, Tenant, body.tenant_id, "tenant")
    box = request.app.state.secret_box
    webhook_secret = "lwsec_" + secrets.token_urlsafe(32)
    connection = DeviceConnection(tenant_id=tenant.id, transport=body.transport, name=body.name,
                                  settings=_settings(body.settings))
    set_secrets(connection, box, {"webhook_secret": webhook_secret, **({"api_key": body.api_key} if body.api_key else {})})
    access.db.add(connection)
    _commit_unique(access.db, "The tenant has a connection of that name already.")
    return ConnectionWithSecret(**_present(box, connection).model_dump(), webhook_secret=webhook_secret)


def _unused(db: Session, connection: DeviceConnection) -> None:
    if db.scalar(select(DeviceBinding.id).where(DeviceBinding.connection_id == connection.id).limit(1)) is not None:
        raise conflict("Devices are still bound to this connection; remove their bindings first.")


# Listed, read and patched by hand below (the public form needs the secret box); deleted plainly.
CONNECTIONS = Resource(
    model=DeviceConnection, what="connection", key="connection_id", public=ConnectionPublic,
    reader=Reader, writer=Writer, order_by=(DeviceConnection.name, DeviceConnection.id), before_delete=_unused,
)


@router.get("/connections", response_model=Page[ConnectionPublic])
def list_connections(request: Request, access: Reader, tenant_id: FilterId = None, limit: Limit = 50,
                     offset: Offset = 0) -> Page[Any]:
    statement = CONNECTIONS.query()
    if tenant_id is not None:
        statement = statement.where(DeviceConnection.tenant_id == tenant_id)
    box = request.app.state.secret_box
    return read_page(access.db, statement, PageRequest(limit, offset), lambda row: _present(box, row))


@router.get("/connections/{connection_id}", response_model=ConnectionPublic)
def get_connection(connection_id: ObjectId, request: Request, access: Reader) -> ConnectionPublic:
    return _present(request.app.state.secret_box, get_visible(access.db, DeviceConnection, connection_id, "connection"))


@router.patch("/connections/{connection_id}", response_model=ConnectionWithSecret | ConnectionPublic)
def update_connection(connection_id: ObjectId, body: ConnectionUpdate, request: Request,
                      access: Writer) -> ConnectionWithSecret | ConnectionPublic:
    connection = get_visible(access.db, DeviceConnection, connection_id, "connection")
    box = request.app.state.secret_box
    kept = open_secrets(connection, box)
    if body.name is not None:
        connection.name = body.name
    if body.settings is not None:
        connection.settings = _settings(body.settings)
    if body.api_key is not None:
        kept["api_key"] = body.api_key
    rotated = None
    if body.rotate_webhook_secret:
        rotated = kept["webhook_secret"] = "lwsec_" + secrets.token_urlsafe(32)
    if body.api_key is not None or rotated:
        set_secrets(connection, box, kept)
    _commit_unique(access.db, "The tenant has a connection of that name already.")
    public = _present(box, connection)
    return ConnectionWithSecret(**public.model_dump(), webhook_secret=rotated) if rotated else public


resource_routes(router, CONNECTIONS, item="/connections/{connection_id}", names={"delete": "delete_connection"})


# --- bindings ---------------------------------------------------------------------------------


def _external_id(connection: DeviceConnection, external_id: str) -> str:
    rule = EXTERNAL_IDS.get(connection.transport)
    if rule is None:
        return external_id
    if not rule.pattern.match(external_id):
        raise invalid_field("external_id_format", rule.explanation, "external_id")
    return external_id.lower() if rule.lower_case else external_id


@router.get("/devices/{device_id}/bindings", response_model=list[BindingPublic])
def list_bindings(device_id: ObjectId, access: Reader) -> list[DeviceBinding]:
    device = get_visible(access.db, Device, device_id, "device")
    return list(access.db.scalars(select(DeviceBinding).where(DeviceBinding.device_id == device.id)
                                  .order_by(DeviceBinding.id)))


@router.post("/devices/{device_id}/bindings", response_model=BindingPublic, status_code=201)
def create_binding(device_id: ObjectId, body: BindingCreate, access: Writer) -> DeviceBinding:
    device = get_visible(access.db, Device, device_id, "device")
    connection = get_visible(access.db, DeviceConnection, body.connection_id, "connection")
    try:
        binding = bind_device(access.db, device, connection, _external_id(connection, body.external_id))
    except BindingRefused:
        raise invalid_field("foreign_connection", "The connection belongs to another organisation than the device.",
                            "connection_id") from None
    _commit_unique(access.db, "That id is bound on this connection already, or the device has a binding on it.")
    return binding


@router.delete("/devices/{device_id}/bindings/{binding_id}", status_code=204)
def delete_binding(device_id: ObjectId, binding_id: ObjectId, access: Writer) -> Response:
    device = get_visible(access.db, Device, device_id, "device")
    binding = get_visible(access.db, DeviceBinding, binding_id, "binding")
    if binding.device_id != device.id:
        raise not_found("binding")  # not this device's: as if it did not exist
    if binding.transport == NATIVE_TRANSPORT:
        raise conflict("The native binding follows the device's serial number; it cannot be removed.")
    access.db.delete(binding)
    access.db.commit()
    return Response(status_code=204)

