"""Live updates across processes through PostgreSQL LISTEN/NOTIFY.

An ingest or scheduler process notifies; every API process listens and feeds its own
`LiveHub`. NOTIFY payloads are limited to 8000 bytes, so bulky parts (latest values of
many keys) are left out of an oversized update: the page fetches them on its own.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from leitstand.state.live import NOTIFY_CHANNEL, LiveHub

log = logging.getLogger(__name__)
MAX_PAYLOAD = 7900


def encode(tenant_id: int, update: dict[str, Any]) -> str:
    payload = json.dumps({"tenant_id": tenant_id, "update": update}, separators=(",", ":"), default=str)
    if len(payload.encode()) > MAX_PAYLOAD:
        slim = {key: value for key, value in update.items() if key not in ("latest", "data")}
        payload = json.dumps({"tenant_id": tenant_id, "update": slim}, separators=(",", ":"), default=str)
    return payload


class PgNotifier:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def publish(self, tenant_id: int, update: dict[str, Any]) -> None:
        with self.engine.begin() as connection:
            connection.execute(text("SELECT pg_notify(:channel, :payload)"),
                               {"channel": NOTIFY_CHANNEL, "payload": encode(tenant_id, update)})


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
            message = json.loads(payload)
            self.hub.publish(int(message["tenant_id"]), message["update"])
        except (ValueError, KeyError, TypeError):
            log.warning("live listener: unreadable notification")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
