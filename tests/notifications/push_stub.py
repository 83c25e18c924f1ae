"""A local Web Push service for tests: it checks what a real push service checks, then decrypts.

A real push service (Mozilla autopush, FCM) accepts a POST to a subscription's
endpoint when the VAPID token is valid (RFC 8292) and the key in it is the one the
browser subscribed with. It cannot read the payload; only the browser can. This
stub also holds the browser's side of each subscription (its private key and auth
secret), so it decrypts the RFC 8291 `aes128gcm` payload and a test can assert
what the service worker would receive.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.notifications.local_http import Answer, LocalHttpServer

MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600  # RFC 8292 §2
MAX_BODY_BYTES = 4096  # RFC 8030 §7.2: what every push service must accept


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class StubSubscription:
    """The push service's record of a subscription, plus the browser's keys that only the stub may know."""

    receiver_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    application_server_key: bytes
    gone: bool = False


@dataclass(frozen=True)
class ReceivedPush:
    endpoint: str
    payload: bytes
    ttl: int
    urgency: str | None
    topic: str | None
    claims: Mapping[str, Any]

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass(frozen=True)
class RefusedPush:
    endpoint: str
    status: int
    reason: str


class Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PushServiceStub:
    def __init__(self) -> None:
        self._subscriptions: dict[str, StubSubscription] = {}
        self._lock = threading.Lock()
        self.received: list[ReceivedPush] = []
        self.refused: list[RefusedPush] = []
        self._http = LocalHttpServer(self._handle)
        self.origin = self._http.origin

    def start(self) -> None:
        self._http.start()

    def stop(self) -> None:
        self._http.stop()

    def subscribe(
        self, receiver_key: ec.EllipticCurvePrivateKey, auth_secret: bytes, application_server_key: str
    ) -> str:
        """What `pushManager.subscribe()` asks of the push service: an endpoint bound to the server's key."""
        endpoint = f"{self.origin}/push/{secrets.token_urlsafe(16)}"
        with self._lock:
            self._subscriptions[endpoint] = StubSubscription(receiver_key, auth_secret,
                                                             b64url_decode(application_server_key))
        return endpoint

    def expire(self, endpoint: str) -> None:
        """The browser withdrew the subscription: further pushes get 410 Gone."""
        with self._lock:
            self._subscriptions[endpoint].gone = True

    def _handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        endpoint = self.origin + path
        try:
            received = self._accept(endpoint, headers, body)
        except Refusal as refusal:
            with self._lock:
                self.refused.append(RefusedPush(endpoint, refusal.status, refusal.reason))
            return Answer(refusal.status, {"Content-Type": "text/plain"}, refusal.reason.encode())
        with self._lock:
            self.received.append(received)
        return Answer(201, {"Location": f"{self.origin}/message/{secrets.token_urlsafe(8)}"})

    def _accept(self, endpoint: str, headers: Mapping[str, str], body: bytes) -> ReceivedPush:
        with self._lock:
            subscription = self._subscriptions.get(endpoint)
        if subscription is None:
            raise Refusal(404, "no such subscription")
        if subscription.gone:
            raise Refusal(410, "subscription expired")
        claims = self._check_vapid(headers.get("Authorization", ""), subscription)
        ttl = headers.get("TTL")
        if ttl is None or not ttl.isdigit():
            raise Refusal(400, "TTL header missing")
        if headers.get("Content-Encoding") != "aes128gcm":
            raise Refusal(415, "payload must be aes128gcm")
        if len(body) > MAX_BODY_BYTES:
            raise Refusal(413, "payload too large")
        try:
            payload = http_ece.decrypt(body, private_key=subscription.receiver_key,
                                       auth_secret=subscription.auth_secret, version="aes128gcm")
        except http_ece.ECEException as error:
            raise Refusal(400, f"cannot decrypt: {error}") from error
        return ReceivedPush(endpoint=endpoint, payload=payload, ttl=int(ttl), urgency=headers.get("Urgency"),
                            topic=headers.get("Topic"), claims=claims)

    def _check_vapid(self, authorization: str, subscription: StubSubscription) -> dict[str, Any]:
        """RFC 8292: 401 for a missing or invalid token, 403 for a valid one from the wrong key."""
        scheme, _, parameters = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise Refusal(401, "VAPID authorization missing")
        fields = dict(item.strip().split("=", 1) for item in parameters.split(",") if "=" in item)
        if "t" not in fields or "k" not in fields:
            raise Refusal(401, "VAPID t= or k= missing")
        try:
            key_bytes = b64url_decode(fields["k"])
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_bytes)
            header_part, claims_part, signature_part = fields["t"].split(".")
            header = json.loads(b64url_decode(header_part))
            claims = json.loads(b64url_decode(claims_part))
            signature = b64url_decode(signature_part)
        except (ValueError, TypeError) as error:
            raise Refusal(401, f"malformed VAPID token: {error}") from error
        if header.get("alg") != "ES256" or len(signature) != 64:
            raise Refusal(401, "VAPID token must be ES256")
        # JWS carries the raw r||s pair; cryptography verifies DER.
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        try:
            public_key.verify(der, f"{header_part}.{claims_part}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as error:
            raise Refusal(401, "VAPID signature invalid") from error
        if claims.get("aud") != self.origin:
            raise Refusal(401, f"VAPID aud is {claims.get('aud')!r}, not {self.origin!r}")
        expires = claims.get("exp")
        now = time.time()
        if not isinstance(expires, int) or expires <= now:
            raise Refusal(401, "VAPID token expired")
        if expires > now + MAX_TOKEN_LIFETIME_SECONDS:
            raise Refusal(401, "VAPID token lives longer than 24 h")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise Refusal(401, "VAPID sub must be a mailto: or https: contact")
        if key_bytes != subscription.application_server_key:
            raise Refusal(403, "VAPID key is not the one this subscription was made for")
        return claims
