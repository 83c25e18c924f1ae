"""Live updates to open browser pages, as Server-Sent Events.

Ingest (and the scheduler) publish small updates per tenant. Each API process keeps
a `LiveHub`; subscribers get the updates about devices they may see. In a
multi-process deployment the publishing process sends the update through
PostgreSQL NOTIFY and every API process LISTENs and feeds its own hub.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leitstand.clock import clock

log = logging.getLogger(__name__)
QUEUE_LIMIT = 1000
NOTIFY_CHANNEL = "leitstand_live"


@dataclass(eq=False)
class Subscription:
    device_ids: set[int]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    dropped: int = 0

    def offer(self, update: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(update)
        except asyncio.QueueFull:
            # A stalled browser must not grow memory without bound; it reloads on reconnect.
            self.dropped += 1


class LiveHub:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()

    def publish(self, tenant_id: int, update: dict[str, Any]) -> None:
        """Thread-safe: called from ingest threads, delivered on each subscriber's loop."""
        device_id = update.get("device_id")
        with self._lock:
            targets = [s for s in self._subscriptions if device_id in s.device_ids]
        for subscription in targets:
            subscription.loop.call_soon_threadsafe(subscription.offer, update)

    def subscribe(self, device_ids: set[int]) -> Subscription:
        subscription = Subscription(device_ids=device_ids, loop=asyncio.get_running_loop())
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)


def as_sse(update: dict[str, Any]) -> str:
    return f"event: {update.get('type', 'update')}\ndata: {json.dumps(update, separators=(',', ':'))}\n\n"


async def stream(
    hub: LiveHub, subscription: Subscription, keepalive_seconds: float = 15.0, until: datetime | None = None
) -> AsyncIterator[str]:
    """The SSE body: updates as they come, a comment line now and then to keep proxies open.

    until: the end of the browser session the stream was opened in, as of opening (a stream is
    no activity, so it never moves that end itself). The stream stops there; the browser's
    EventSource reconnects, which goes on if the session was used meanwhile and fails if not.
    """
    try:
        yield ": connected\n\n"
        while True:
            wait = keepalive_seconds
            if until is not None:
                left = (until - clock.now()).total_seconds()
                if left <= 0:
                    return
                wait = min(wait, left)
            try:
                update = await asyncio.wait_for(subscription.queue.get(), timeout=wait)
            except TimeoutError:
                if until is None or clock.now() < until:
                    yield ": keepalive\n\n"
                continue
            yield as_sse(update)
    finally:
        hub.unsubscribe(subscription)
