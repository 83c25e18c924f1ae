"""The live stream (Server-Sent Events) on a real server: updates arrive, and only a
principal's own devices reach their stream."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from leitstand.ingest.message import DeviceMessage, MessageKind
from leitstand.clock import clock
from tests.helpers.server import running_server
from tests.helpers.world import World


@pytest.fixture
def base_url(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with running_server(app) as url:
        yield url


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:  # type: ignore[type-arg]
    """(event name, data) pairs from an SSE line stream; comments are skipped."""
    name = "message"
    for line in lines:
        if line.startswith(":") or not line:
            continue
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            yield name, json.loads(line.split(":", 1)[1])
            name = "message"


def heartbeat(serial: str) -> DeviceMessage:
    return DeviceMessage(serial=serial, kind=MessageKind.heartbeat, received_at=clock.now())


def test_the_stream_carries_own_devices_and_never_another_tenants(world: World, app, base_url) -> None:
    token = world.token_for("alpha_operator")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, timeout=20) as client:
        with client.stream("GET", "/api/v1/live", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            assert next(lines).startswith(": connected")
            # Beta's device speaks first: had it leaked, it would be the first event read.
            app.state.ingestor.accept([heartbeat(world.beta.barrier.serial_number)])
            app.state.ingestor.accept([heartbeat(world.alpha.barrier.serial_number)])
            name, data = next(sse_events(lines))

    assert name == "device"
    assert data["device_id"] == world.alpha.barrier.id and data["online"] is True


def test_the_stream_needs_authentication_and_the_read_permission(world: World, base_url) -> None:
    world.user_with_role("nobody", None, world.alpha.customer)  # type: ignore[arg-type]
    with httpx.Client(base_url=base_url, timeout=20) as client:
        assert client.get("/api/v1/live").status_code == 401
        refused = client.get("/api/v1/live", headers={"Authorization": f"Bearer {world.token_for('nobody')}"})
        assert refused.status_code == 403
