"""HTTP ingest: the MQTT payloads over HTTP, for devices that cannot speak MQTT.

    POST /api/v1/ingest/{telemetry|attributes|events|heartbeat}
    POST /api/v1/ingest/commands/{command_id}        the result of a command
    Authorization: Bearer <serial>:<secret>          (or HTTP Basic with the same pair)

The body is exactly what the device would publish on the matching MQTT topic
(leitstand.transports.native decodes both). The device is the one its credential
names, never one named in the request, so a device can only write its own data.

Answers: 202 once the message is committed; 401 for an unknown, revoked or malformed
credential; 413 above 64 KiB; 422 for a path outside the topic scheme and for a payload
that is malformed or refused by validation (unknown key, NaN, implausible time); 403
when the device's license is not active (only heartbeats are processed then). Every
refusal after authentication is counted on the device (state.models.IngestRejection),
refusals before it in the ingest metrics only: an unauthenticated request must not move
a device's counters.
"""

from __future__ import annotations

import base64
import binascii
import enum
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from leitstand.clock import clock
from leitstand.devices.credentials import AuthenticatedDevice
from leitstand.devices.credentials import authenticate_device as check_credential
from leitstand.ingest.message import IngestReport, RejectReason
from leitstand.transports.base import Ingest
from leitstand.transports.native import codec, topics
from leitstand.transports.native.topics import Channel
from leitstand.web.bodies import read_capped
from leitstand.web.errors import Problem, problem_content

router = APIRouter(prefix="/ingest", tags=["ingest (devices)"])

MAX_BODY_BYTES = codec.MAX_PAYLOAD_BYTES  # 64 KiB, as over MQTT
# Counted in the ingest metrics when a request carries no usable device credential.
BAD_CREDENTIALS = RejectReason.bad_credentials
# The Ingestor takes one accept() at a time per transport; HTTP requests arrive on many
# threads, so they take turns here.
_accept_turn = threading.Lock()


class IngestKind(enum.StrEnum):
    telemetry = "telemetry"
    attributes = "attributes"
    events = "events"
    heartbeat = "heartbeat"


# The path is taken as sent and checked by the codec like the levels of an MQTT topic, not by
# FastAPI before the handler runs: so a path outside the scheme is refused and counted on the
# device that sent it, as the same publish would be. The schema still states what is valid.
Kind = Annotated[str, Path(description="The uplink channel, as in `ls/v1/<serial>/up/<kind>`.",
                           json_schema_extra={"enum": [kind.value for kind in IngestKind]})]
CommandId = Annotated[str, Path(description="The command's id, as in `ls/v1/<serial>/up/commands/<command_id>`.",
                                json_schema_extra={"minLength": 1, "maxLength": topics.MAX_COMMAND_ID,
                                                   "pattern": r"^[A-Za-z0-9_.-]+$"})]


class IngestAck(BaseModel):
    accepted: int
    points_written: int


def _unauthenticated(detail: str) -> Problem:
    problem = Problem(401, "unauthenticated", "Device authentication required", detail)
    problem.headers["WWW-Authenticate"] = 'Bearer realm="leitstand-ingest"'
    return problem


def credential_pair(authorization: str) -> tuple[str, str] | None:
    """(serial, secret) from `Bearer <serial>:<secret>` or `Basic base64(<serial>:<secret>)`."""
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
    elif scheme.lower() != "bearer":
        return None
    serial, _, secret = value.partition(":")
    if not serial or not secret or len(serial) > topics.MAX_SERIAL:
        return None
    return serial, secret


async def authenticate_device(request: Request) -> AuthenticatedDevice:
    """The device behind a request, by its credential. Refuses user tokens and cookies."""
    ingestor: Ingest = request.app.state.ingestor
    pair = credential_pair(request.headers.get("authorization", ""))
    device = None
    if pair is not None:
        device = await run_in_threadpool(check_credential, request.app.state.session_factory, *pair,
                                         transport="HTTP ingest")
    if device is None:
        await run_in_threadpool(ingestor.reject, None, BAD_CREDENTIALS, "HTTP ingest without a valid device credential")
        raise _unauthenticated("Send the device credential as Authorization: Bearer <serial>:<secret>.")
    return device


DeviceAuth = Annotated[AuthenticatedDevice, Depends(authenticate_device)]


def _refused(reason: str, detail: str) -> Problem:
    if reason == RejectReason.oversized:
        return Problem(413, "too-large", "Message too large", detail, reason=reason)
    if reason == RejectReason.unlicensed:
        return Problem(403, "license-inactive", "License not active",
                       "The device's license is not active: only heartbeats are processed.", reason=reason)
    if reason == RejectReason.unknown_command:
        return Problem(404, "unknown-command", "No such command", detail or "No such command for this device.", reason=reason)
    if reason in (RejectReason.unknown_device, RejectReason.decommissioned):
        return _unauthenticated("The device is unknown or decommissioned.")
    return Problem(422, "message-refused", "Message refused", detail, reason=reason)


async def _read_body(request: Request, device: AuthenticatedDevice, ingestor: Ingest) -> bytes:
    try:
        return await read_capped(request, MAX_BODY_BYTES)
    except Problem as refusal:
        detail = f"the body exceeds {MAX_BODY_BYTES} bytes"
        await run_in_threadpool(ingestor.reject, device.serial, RejectReason.oversized, detail)
        raise _refused(RejectReason.oversized, detail) from refusal


def _accept(ingestor: Ingest, message: Any) -> IngestReport:
    with _accept_turn:
        return ingestor.accept([message])


async def _ingest(request: Request, device: AuthenticatedDevice, path: str) -> Any:
    """`path`: what follows `up/` in the matching MQTT topic, as the request named it."""
    ingestor: Ingest = request.app.state.ingestor
    payload = await _read_body(request, device, ingestor)
    try:
        message = codec.decode_below(device.serial, path, payload, clock.now())
    except codec.DecodeError as error:
        await run_in_threadpool(ingestor.reject, device.serial, error.reason, error.detail)
        raise _refused(error.reason, error.detail) from None
    report = await run_in_threadpool(_accept, ingestor, message)
    if report.accepted:
        return JSONResponse(IngestAck(accepted=report.accepted, points_written=report.points_written).model_dump(),
                            status_code=202)
    # accept() counted the refusal already; say why.
    reason = next(iter(report.rejected), RejectReason.malformed)
    raise _refused(reason, f"refused by validation ({reason}); see the device's ingest rejections")


INGEST_BODY = {
    "requestBody": {
        "required": False,
        "description": "The JSON payload of the matching MQTT topic (see the README, 'Device protocol').",
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "security": [{"device": []}],
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Committed", "model": IngestAck},
    403: {"description": "License not active: only heartbeats are processed", "content": problem_content()},
    413: {"description": "Body above 64 KiB", "content": problem_content()},
}


@router.post("/commands/{command_id}", status_code=202, response_model=IngestAck, openapi_extra=INGEST_BODY,
             responses=RESPONSES)
async def command_result(command_id: CommandId, request: Request, device: DeviceAuth) -> Any:
    """A device's answer to a command: `{"status": "delivered|succeeded|failed", "detail": "…"}`."""
    return await _ingest(request, device, f"{Channel.commands}/{command_id}")


@router.post("/{kind}", status_code=202, response_model=IngestAck, openapi_extra=INGEST_BODY, responses=RESPONSES)
async def ingest(kind: Kind, request: Request, device: DeviceAuth) -> Any:
    """One uplink of the authenticated device, as over MQTT on `ls/v1/<serial>/up/<kind>`."""
    return await _ingest(request, device, kind)
