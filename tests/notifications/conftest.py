"""Fixtures: a local push service, a browser that subscribes to it, and a webhook receiver."""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from leitstand.notifications.channels import PushSubscription, VapidKeys, generate_vapid_keys
from tests.notifications.local_http import Answer, LocalHttpServer
from tests.notifications.push_stub import PushServiceStub

# How long a held webhook request waits for release at most, so a failing test cannot hang the run.
HOLD_LIMIT_SECONDS = 10


@pytest.fixture
def push_service() -> Iterator[PushServiceStub]:
    stub = PushServiceStub()
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def vapid() -> VapidKeys:
    return generate_vapid_keys()


def _urlsafe_b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@pytest.fixture
def subscribe(push_service: PushServiceStub, vapid: VapidKeys):  # type: ignore[no-untyped-def]
    """Subscribe the way a browser does: its own P-256 key pair and auth secret, the server's public key."""

    def make(application_server_key: str = vapid.application_server_key) -> PushSubscription:
        receiver_key = ec.generate_private_key(ec.SECP256R1())
        auth_secret = secrets.token_bytes(16)
        endpoint = push_service.subscribe(receiver_key, auth_secret, application_server_key)
        p256dh = receiver_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return PushSubscription.from_browser(
            {"endpoint": endpoint, "keys": {"p256dh": _urlsafe_b64(p256dh), "auth": _urlsafe_b64(auth_secret)}}
        )

    return make


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: Mapping[str, str]
    body: bytes


class WebhookReceiver:
    """An integration's endpoint: records each request and answers with the statuses it is told to."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self._statuses: list[int] = []
        self._released = threading.Event()
        self._released.set()
        self._lock = threading.Lock()
        self._http = LocalHttpServer(self._handle)
        self.url = f"{self._http.origin}/hooks/leitstand"

    def answer_with(self, *statuses: int) -> None:
        """The statuses of the next requests, in order; 200 after they are used up."""
        self._statuses.extend(statuses)

    def hold(self) -> None:
        """Keep answers back until `release()`, to make the sender time out."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def _handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        with self._lock:
            self.requests.append(ReceivedRequest(path, headers, body))
            status = self._statuses.pop(0) if self._statuses else 200
        self._released.wait(HOLD_LIMIT_SECONDS)
        return Answer(status, {"Content-Type": "text/plain"}, b"noted")

    def start(self) -> None:
        self._http.start()

    def stop(self) -> None:
        self.release()
        self._http.stop()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


# --- routing and dispatch through the app -------------------------------------------------------


@pytest.fixture
def notifier(app):  # type: ignore[no-untyped-def]
    """The app's notifier (started by create_app and registered as alarm listener)."""
    return app.state.notifier
