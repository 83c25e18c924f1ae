"""Web Push (RFC 8030) to the installed portal, encrypted per RFC 8291, signed with VAPID (RFC 8292).

The installation has one VAPID key pair. Browsers subscribe with its public half
(the "application server key"); every push is signed with the private half, so
the push service only accepts pushes from this installation. The subscription's
own keys (p256dh, auth) encrypt the payload end to end: the push service in
between cannot read it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException

from leitstand.clock import clock
from leitstand.devicetypes.spec import Severity
from leitstand.notifications.channels.delivery import Channel, DeliveryResult, Notification, Outcome, Stopwatch

# RFC 8292 allows at most 24 h; a shorter token limits the harm of a leaked one.
VAPID_TOKEN_SECONDS = 12 * 3600

# Push services must accept 4096 encrypted bytes. aes128gcm adds an 86-byte header,
# a 16-byte tag and a 1-byte padding delimiter, which leaves this much for the JSON.
MAX_PAYLOAD_BYTES = 4096 - 86 - 16 - 1


@dataclass(frozen=True)
class PushDelivery:
    """How long the push service keeps a message for an offline device, and how eagerly it wakes it."""

    ttl_seconds: int
    urgency: str  # RFC 8030 §5.3: very-low, low, normal, high


# A critical alarm is still worth seeing after a day with the phone switched off; a
# warning that is hours old is moot (the alarm list still has it). "high" lets the
# push service wake a device that is saving battery.
DELIVERY_BY_SEVERITY = {
    Severity.critical: PushDelivery(ttl_seconds=24 * 3600, urgency="high"),
    Severity.major: PushDelivery(ttl_seconds=12 * 3600, urgency="high"),
    Severity.minor: PushDelivery(ttl_seconds=4 * 3600, urgency="normal"),
    Severity.warning: PushDelivery(ttl_seconds=3600, urgency="low"),
}


@dataclass(frozen=True)
class VapidKeys:
    """The installation's VAPID pair. The caller stores `private_key_pem` encrypted."""

    private_key_pem: str
    application_server_key: str


@dataclass(frozen=True)
class PushSubscription:
    """Where and how to reach one browser: the push service URL and the browser's keys."""

    endpoint: str
    p256dh: str  # the browser's P-256 public key, URL-safe base64
    auth: str  # the browser's 16-byte auth secret, URL-safe base64

    @classmethod
    def from_browser(cls, subscription: Mapping[str, Any]) -> PushSubscription:
        """From the JSON of the browser's `PushSubscription.toJSON()`."""
        keys = subscription["keys"]
        return cls(endpoint=subscription["endpoint"], p256dh=keys["p256dh"], auth=keys["auth"])


def _urlsafe_b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def generate_vapid_keys() -> VapidKeys:
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return VapidKeys(private_key_pem=pem, application_server_key=application_server_key(pem))


def _load_private_key(private_key_pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(private_key_pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("a VAPID key must be a P-256 private key")
    return key


def application_server_key(private_key_pem: str) -> str:
    """The public key browsers subscribe with: the uncompressed P-256 point, URL-safe base64."""
    point = _load_private_key(private_key_pem).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _urlsafe_b64(point)


def push_payload(notification: Notification) -> bytes:
    """The JSON the service worker receives; an over-long body is shortened rather than the push lost."""
    content = notification.as_dict()
    payload = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    overflow = len(payload) - MAX_PAYLOAD_BYTES
    if overflow <= 0:
        return payload
    body = content["body"].encode("utf-8")
    ellipsis = "…".encode()
    # Each byte cut from the body shortens the JSON by at least one byte (escaping only
    # lengthens), so this fits; "ignore" drops a character the cut split in two.
    keep = max(0, len(body) - overflow - len(ellipsis))
    content["body"] = body[:keep].decode("utf-8", "ignore").rstrip() + "…"
    payload = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(payload) > MAX_PAYLOAD_BYTES:
        # Still too long: the extra data is what the user can most easily do without.
        content["data"] = {}
        payload = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return payload


def push_topic(tag: str) -> str:
    """The RFC 8030 Topic for a dedupe tag: at most 32 URL-safe base64 characters, so a hash of it."""
    return _urlsafe_b64(hashlib.sha256(tag.encode("utf-8")).digest())[:32]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def send_push(
    subscription: PushSubscription,
    notification: Notification,
    vapid_private_key: str,
    vapid_subject: str,
    *,
    timeout: float = 10.0,
    session: requests.Session | None = None,
) -> DeliveryResult:
    """Hand one notification to the browser's push service.

    `vapid_subject` is a `mailto:` or `https:` contact the push service operator can
    reach. An outcome of `gone` means the subscription has expired or was
    withdrawn (404/410): delete it.
    """
    stopwatch = Stopwatch()
    target = subscription.endpoint
    delivery = DELIVERY_BY_SEVERITY[notification.severity]
    claims = {
        "sub": vapid_subject,
        "aud": _origin(subscription.endpoint),
        # From the platform clock, so tests can produce an expired token by moving it.
        "exp": int(clock.now().timestamp()) + VAPID_TOKEN_SECONDS,
    }
    headers = Vapid(private_key=_load_private_key(vapid_private_key)).sign(claims)
    headers["Urgency"] = delivery.urgency
    if notification.tag:
        # Lets the push service replace an undelivered older push about the same thing.
        headers["Topic"] = push_topic(notification.tag)
    subscription_info = {"endpoint": subscription.endpoint,
                         "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
    try:
        pusher = WebPusher(subscription_info, requests_session=session)
        response = pusher.send(push_payload(notification), headers, ttl=delivery.ttl_seconds, timeout=timeout)
    except (WebPushException, ValueError) as error:
        # Keys the browser gave us that cannot encrypt will never work: same as a withdrawn subscription.
        return stopwatch.result(Channel.push, target, Outcome.gone, detail=f"unusable subscription keys: {error}")
    except requests.RequestException as error:
        return stopwatch.result(Channel.push, target, Outcome.failed, detail=f"push service unreachable: {error}")
    status = response.status_code
    if 200 <= status < 300:
        outcome = Outcome.delivered
    elif status in (404, 410):
        outcome = Outcome.gone
    else:
        outcome = Outcome.failed
    detail = "" if outcome is Outcome.delivered else f"{status} {response.reason}: {response.text[:200]}".strip()
    return stopwatch.result(Channel.push, target, outcome, status_code=status, detail=detail)
