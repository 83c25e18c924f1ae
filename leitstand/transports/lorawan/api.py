"""The webhooks a tenant's network servers post their events to.

    POST /api/v1/lorawan/{connection_id}/chirpstack?event=up|join|ack|txack|status|log|...
    POST /api/v1/lorawan/{connection_id}/tts[/{message path}]   (TTS: every message type)
    X-Leitstand-Webhook-Secret: <the connection's webhook secret>

Set up ChirpStack's HTTP integration with the first URL and the header; TTS's webhook with
the second as base URL (the message paths may stay empty or name anything) and the header.

Answers: 202 once the event's messages are committed (or it needs nothing stored); 401 for
a missing or wrong secret, or a connection that is not a LoRaWAN one of that server (the
same answer, so a stranger learns nothing about which connections exist); 409 for an event
already received (same event id); 413 above 64 KiB; 422 for JSON that is not an event of
the documented shape, bytes the device type's codec cannot decode, and a DevEUI no device
is bound to on this connection (never created on the fly). Every refusal is counted.
"""

from __future__ import annotations

import hmac
import logging
import threading
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from leitstand.clock import clock
from leitstand.devices.connections import open_secrets
from leitstand.devices.bindings import bound_type_key
from leitstand.devices.models import ConnectionEvent, DeviceConnection
from leitstand.devicetypes.spec import DeviceTypeSpec, UnknownDeviceType, spec_for
from leitstand.i18n import Message
from leitstand.ingest.message import BindingKey, IngestReport, RejectReason
from leitstand.tenancy.scope import system_session
from leitstand.transports.base import Ingest
from leitstand.transports.lorawan import chirpstack, things_stack
from leitstand.transports.lorawan.network_events import BadEvent, Ignored, NetworkEvent
from leitstand.transports.lorawan.transport import LORAWAN
from leitstand.transports.lorawan.uplinks import CodecError, messages_of
from leitstand.web.bodies import read_capped
from leitstand.web.errors import Problem

log = logging.getLogger(__name__)
router = APIRouter(prefix="/lorawan", tags=["LoRaWAN (network servers)"])

SECRET_HEADER = "X-Leitstand-Webhook-Secret"
MAX_BODY_BYTES = 64 * 1024
_accept_turn = threading.Lock()  # the Ingestor takes one accept() at a time per transport


class WebhookAck(BaseModel):
    accepted: int
    points_written: int


ConnectionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The network-server connection's id.")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Stored (or nothing to store)", "model": WebhookAck},
    409: {"description": "This event was received before"},
    413: {"description": "Body above 64 KiB"},
}
WEBHOOK_BODY = {
    "requestBody": {"required": True, "description": "The network server's event JSON, as it documents it.",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
    "security": [{"webhook": []}],
}


def _unauthenticated() -> Problem:
    return Problem(401, "unauthenticated", "Webhook secret required",
                   Message("Send the connection's webhook secret in the %(header)s header.", header=SECRET_HEADER))


def _refused(reason: str, detail: str) -> Problem:
    if reason == RejectReason.duplicate:
        return Problem(409, "duplicate-event", "Event received before", detail, reason=reason)
    if reason == RejectReason.oversized:
        return Problem(413, "too-large", "Message too large", detail, reason=reason)
    return Problem(422, "message-refused", "Message refused", detail, reason=reason)


def _authenticate(factory: Any, box: Any, connection_id: int, network_server: str, secret: str) -> bool:
    """Whether `secret` is the webhook secret of a LoRaWAN connection of `network_server`.
    One constant-time comparison whatever is missing, so the answer's timing tells nothing."""
    expected = ""
    with system_session(factory, reason="LoRaWAN webhook secret") as db:
        connection = db.get(DeviceConnection, connection_id)
        if (connection is not None and connection.transport == LORAWAN
                and (connection.settings or {}).get("network_server") == network_server):
            expected = str(open_secrets(connection, box).get("webhook_secret", ""))
    matches = hmac.compare_digest(secret.encode(), (expected or "\x00" * 32).encode())
    return bool(expected) and matches


def _spec_of(factory: Any, connection_id: int, dev_eui: str) -> DeviceTypeSpec | None:
    with system_session(factory, reason="LoRaWAN webhook: the device's type") as db:
        type_key = bound_type_key(db, connection_id, dev_eui)
    if type_key is None:
        return None
    try:
        return spec_for(type_key)
    except UnknownDeviceType:
        return None


def _seen_before(factory: Any, connection_id: int, event_id: str) -> bool:
    with system_session(factory, reason="LoRaWAN webhook: replay check") as db:
        return db.scalar(select(ConnectionEvent.id).where(ConnectionEvent.connection_id == connection_id,
                                                          ConnectionEvent.event_id == event_id)) is not None


def _remember(factory: Any, connection_id: int, event_id: str) -> None:
    """Record the event as received, after its messages are stored: a crash in between means the
    server's replay is applied again, which the store's keys make harmless (a point is stored once)."""
    with system_session(factory, reason="LoRaWAN webhook: remember the event") as db:
        try:
            db.execute(insert(ConnectionEvent).values(connection_id=connection_id, event_id=event_id,
                                                      received_at=clock.now()))
            db.commit()
        except IntegrityError:  # the same event, posted twice at once: both stored it, harmlessly
            db.rollback()


def _store(ingestor: Ingest, messages: list[Any]) -> IngestReport:
    with _accept_turn:
        return ingestor.accept(messages)


async def _receive(request: Request, connection_id: int, network_server: str, parse: Any) -> Any:
    state = request.app.state
    ingestor: Ingest = state.ingestor
    secret = request.headers.get(SECRET_HEADER, "")
    if not secret or not await run_in_threadpool(_authenticate, state.session_factory, state.secret_box,
                                                 connection_id, network_server, secret):
        await run_in_threadpool(ingestor.reject, None, RejectReason.bad_credentials,
                                f"{network_server} webhook of connection {connection_id} without its secret")
        raise _unauthenticated()

    async def refuse(reason: str, detail: str) -> Problem:
        await run_in_threadpool(ingestor.reject, None, reason, f"connection {connection_id}: {detail}")
        return _refused(reason, detail)

    try:
        body = await read_capped(request, MAX_BODY_BYTES)
    except Problem:
        raise await refuse(RejectReason.oversized, f"the body exceeds {MAX_BODY_BYTES} bytes") from None
    try:
        event: NetworkEvent = parse(orjson.loads(body))
    except orjson.JSONDecodeError:
        raise await refuse(RejectReason.malformed, "the body is not JSON") from None
    except BadEvent as error:
        raise await refuse(error.reason, error.detail) from None
    if isinstance(event, Ignored):
        return JSONResponse(WebhookAck(accepted=0, points_written=0).model_dump(), status_code=202)
    if await run_in_threadpool(_seen_before, state.session_factory, connection_id, event.event_id):
        raise await refuse(RejectReason.duplicate, f"event {event.event_id} was received before")
    binding = BindingKey(LORAWAN, connection_id, event.dev_eui)
    spec = await run_in_threadpool(_spec_of, state.session_factory, connection_id, event.dev_eui)
    try:
        messages = messages_of(event, binding, spec, clock.now())
    except CodecError as error:
        raise await refuse(error.reason, f"{event.dev_eui}: {error.detail}") from None
    report = await run_in_threadpool(_store, ingestor, messages) if messages else IngestReport()
    if report.rejected and not report.accepted:
        # accept() counted the refusal already; say why.
        reason = next(iter(report.rejected))
        raise _refused(reason, f"{event.dev_eui}: refused ({reason}); see the connection's and device's rejections")
    await run_in_threadpool(_remember, state.session_factory, connection_id, event.event_id)
    return JSONResponse(WebhookAck(accepted=report.accepted, points_written=report.points_written).model_dump(),
                        status_code=202)


@router.post("/{connection_id}/chirpstack", status_code=202, response_model=WebhookAck, responses=RESPONSES,
             openapi_extra=WEBHOOK_BODY)
async def chirpstack_event(connection_id: ConnectionId, request: Request,
                           event: Annotated[str | None, Query(
                               description="ChirpStack's event type (checked after the secret, so a stranger learns nothing).",
                               json_schema_extra={"enum": list(chirpstack.EVENTS)})] = None) -> Any:
    """One event of a ChirpStack v4 HTTP integration (JSON marshaler)."""
    return await _receive(request, connection_id, chirpstack.KIND,
                          lambda body: chirpstack.parse_event(event or "", body))


@router.post("/{connection_id}/tts", status_code=202, response_model=WebhookAck, responses=RESPONSES,
             openapi_extra=WEBHOOK_BODY)
async def tts_message(connection_id: ConnectionId, request: Request) -> Any:
    """One message of a The Things Stack v3 webhook (JSON format), whatever its type."""
    return await _receive(request, connection_id, things_stack.KIND, things_stack.parse_message)


MessagePath = Annotated[str, Path(description="The path the webhook names for the message type (any; the body says "
                                               "which type it is).", max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


@router.post("/{connection_id}/tts/{message_path}", status_code=202, response_model=WebhookAck,
             responses=RESPONSES, openapi_extra=WEBHOOK_BODY)
async def tts_message_at_path(connection_id: ConnectionId, message_path: MessagePath, request: Request) -> Any:
    """The same, where the webhook names a path per message type (`/uplink`, `/join`, ...)."""
    return await _receive(request, connection_id, things_stack.KIND, things_stack.parse_message)
