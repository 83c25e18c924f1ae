"""Live updates across processes through PostgreSQL LISTEN/NOTIFY.

An ingest or scheduler process notifies; every API process listens and feeds its own
`LiveHub`. NOTIFY payloads are limited to 8000 bytes, so bulky parts (latest values of
many keys) are left out of an oversized update: the page fetches them on its own.

An ingest batch touches hundreds of devices: `publish_many` packs its updates into as
few notifications as fit (a JSON list each) and sends them in one statement, so live
updates cost one round trip per batch, not a transaction per device.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from leitstand.state.live import NOTIFY_CHANNEL, LiveHub

log = logging.getLogger(__name__)
MAX_PAYLOAD = 7900


def encode(tenant_id: int, update: dict[str, Any]) -> str:
    payload = orjson.dumps({"tenant_id": tenant_id, "update": update}, default=str)
    if len(payload) > MAX_PAYLOAD:
        slim = {key: value for key, value in update.items() if key not in ("latest", "data")}
        payload = orjson.dumps({"tenant_id": tenant_id, "update": slim}, default=str)
    return payload.decode()


def pack(updates: Sequence[tuple[int, dict[str, Any]]]) -> list[str]:
    """Updates as notification payloads: JSON lists of encoded updates, each under MAX_PAYLOAD."""
    payloads: list[str] = []
    current: list[str] = []
    size = 2
    for tenant_id, update in updates:
        encoded = encode(tenant_id, update)
        if current and size + len(encoded) + 1 > MAX_PAYLOAD:
            payloads.append("[" + ",".join(current) + "]")
            current, size = [], 2
        current.append(encoded)
        size += len(encoded) + 1
    if current:
        payloads.append("[" + ",".join(current) + "]")
    return payloads


class PgNotifier:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def publish(self, tenant_id: int, update: dict[str, Any]) -> None:
        self.publish_many([(tenant_id, update)])

    def publish_many(self, updates: Sequence[tuple[int, dict[str, Any]]]) -> None:
        payloads = pack(updates)
        if not payloads:
            return
        with self.engine.begin() as connection:
            # executemany: psycopg pipelines the statements into one round trip.
            connection.execute(text("SELECT pg_notify(:channel, :payload)"),
                               [{"channel": NOTIFY_CHANNEL, "payload": payload} for payload in payloads])


def _libpq_url(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PgListener:
    """A thread that LISTENs and hands every notification to the hub."""

    def __init__(self, database_url: str, hub: LiveHub) -> None:
        self.url = _libpq_url(database_url)
        self.hub = hub
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-listener", daemon=True)

    def start(self, wait: float = 10.0) -> None:
        self._thread.start()
        self.ready.wait(wait)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.ready.set()
                    while not self._stop.is_set():
                        for notification in connection.notifies(timeout=1.0):
                            self._deliver(notification.payload)
            except psycopg.OperationalError as error:
                log.warning("live listener lost the database: %s", error)
                self._stop.wait(2.0)

    def _deliver(self, payload: str) -> None:
        try:
            decoded = json.loads(payload)
            for message in decoded if isinstance(decoded, list) else [decoded]:
                self.hub.publish(int(message["tenant_id"]), message["update"])
        except (ValueError, KeyError, TypeError):
            log.warning("live listener: unreadable notification")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
