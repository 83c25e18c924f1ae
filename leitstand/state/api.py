"""Live state routes: a device's current state, its events and refusals, and the SSE stream."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import Field
from sqlalchemy import select

from leitstand.db.stored_rows import presentable
from leitstand.devices.models import Device
from leitstand.permissions import Permission
from leitstand.state.live import stream
from leitstand.state.models import DeviceEvent, DeviceState, IngestRejection
from leitstand.web.crud import get_visible, read_page
from leitstand.web.deps import SESSION_ACTIVITY, Access, requires
from leitstand.web.types import Limit, ObjectId, Offset, Page, PageRequest, Public

router = APIRouter(tags=["live state"])
Reader = Annotated[Access, requires(Permission.device_read)]
MAX_STREAM_DEVICES = 50_000


class DeviceStatePublic(Public):
    device_id: int
    online: bool
    last_seen_at: datetime | None
    online_changed_at: datetime | None
    attributes: dict[str, Any]
    latest: dict[str, Any]


class DeviceEventPublic(Public):
    id: int
    device_id: int
    at: datetime
    kind: str
    code: str
    severity: str
    data: dict[str, Any]
    unknown_code: bool = Field(description="The code is not in the device type's catalogue; kept as sent.")


class RejectionPublic(Public):
    reason: str
    count: int
    last_at: datetime | None
    last_detail: str


@router.get("/devices/{device_id}/state", response_model=DeviceStatePublic)
def get_state(device_id: ObjectId, access: Reader) -> DeviceStatePublic:
    device = get_visible(access.db, Device, device_id, "device")
    state = access.db.get(DeviceState, device.id)
    if state is None:  # never heard from
        return DeviceStatePublic(device_id=device.id, online=False, last_seen_at=None, online_changed_at=None,
                                 attributes={}, latest={})
    return DeviceStatePublic.model_validate(state)


@router.get("/devices/{device_id}/events", response_model=Page[DeviceEventPublic])
def list_events(
    device_id: ObjectId, access: Reader,
    kind: Annotated[str | None, Query(pattern=r"^[a-z]{1,20}$")] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> Page[DeviceEventPublic]:
    device = get_visible(access.db, Device, device_id, "device")
    statement = select(DeviceEvent).where(DeviceEvent.device_id == device.id).order_by(DeviceEvent.at.desc(), DeviceEvent.id.desc())
    if kind:
        statement = statement.where(DeviceEvent.kind == kind)
    return read_page(access.db, statement, PageRequest(limit, offset), DeviceEventPublic.model_validate)


@router.get("/devices/{device_id}/rejections", response_model=list[RejectionPublic])
def list_rejections(device_id: ObjectId, access: Reader) -> list[RejectionPublic]:
    """Messages of this device that ingest refused, counted per reason."""
    device = get_visible(access.db, Device, device_id, "device")
    rows = access.db.scalars(select(IngestRejection).where(IngestRejection.device_id == device.id).order_by(IngestRejection.reason))
    return presentable(rows, RejectionPublic.model_validate)


@router.get("/live", response_class=StreamingResponse, openapi_extra={SESSION_ACTIVITY: False},
            responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}})
async def live_stream(access: Reader, request: Request) -> StreamingResponse:
    """Server-Sent Events about every device you may see: state, values, events, command
    progress. The set of devices is fixed when the stream opens; reconnect to refresh it.
    In a browser session the stream is no activity: it ends when the session would end
    without other use (idle timeout), and reopening it does not keep the session open."""
    device_ids = await run_in_threadpool(lambda: set(access.db.scalars(select(Device.id).limit(MAX_STREAM_DEVICES))))
    hub = request.app.state.live_hub
    subscription = hub.subscribe(device_ids)
    return StreamingResponse(
        stream(hub, subscription, until=access.principal.session_ends_at), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
