"""Signed webhooks: a JSON POST to a URL an integration (ERP, facility management) names.

Signature
---------
Every request carries

    Leitstand-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

where the HMAC is keyed with the webhook's shared secret (UTF-8) and computed over
`<t>.<raw request body>`, i.e. the decimal timestamp, a full stop and the body bytes
exactly as received. A receiver recomputes it, compares in constant time and rejects
timestamps outside a tolerance (five minutes by default), which stops replays.
There may be more than one `v1=` entry (while a secret is being rotated); one
matching entry is enough. `verify_signature` does all of this for Python receivers.

`Leitstand-Delivery` names the delivery and stays the same on every retry, so a
receiver can drop duplicates; the timestamp and signature are fresh per attempt.

Retries
-------
`send_webhook` makes one attempt. On failure it returns when the next attempt is due
according to a `RetryPolicy` (exponential backoff), computed instead of slept, so the
scheduler drives retries and a restart loses none. After the last attempt the result
is `dead_lettered`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from leitstand.clock import clock
from leitstand.notifications.channels.delivery import Channel, DeliveryResult, Notification, Outcome, Stopwatch

SIGNATURE_HEADER = "Leitstand-Signature"
DELIVERY_HEADER = "Leitstand-Delivery"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff as data: the wait after attempt n is base_delay · factor^(n-1), capped at max_delay.

    With the defaults the attempts spread over about three hours, long enough to
    ride out a receiver's deployment or a short outage.
    """

    attempts: int = 10
    base_delay: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    max_delay: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")
        if self.factor < 1:
            raise ValueError("a backoff factor below 1 would shorten the waits")

    def delay_after(self, attempt: int) -> timedelta:
        cap = self.max_delay.total_seconds()
        try:
            seconds = self.base_delay.total_seconds() * float(self.factor) ** max(attempt - 1, 0)
        except OverflowError:  # a huge attempt number: far beyond the cap anyway
            seconds = cap
        return timedelta(seconds=min(seconds, cap))

    def next_attempt_at(self, attempt: int, now: datetime) -> datetime | None:
        """When to make attempt `attempt + 1` after attempt `attempt` failed at `now`; None when none is left."""
        if attempt >= self.attempts:
            return None
        return now + self.delay_after(attempt)


DEFAULT_RETRY_POLICY = RetryPolicy()


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _hmac_hex(secret: str | bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(_secret_bytes(secret), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def sign_webhook(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The value of the `Leitstand-Signature` header for this body at this time."""
    return f"t={timestamp},{SIGNATURE_VERSION}={_hmac_hex(secret, timestamp, body)}"


def verify_signature(
    secret: str | bytes,
    header: str,
    body: bytes,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when `header` is a valid `Leitstand-Signature` for `body` and not older (or newer) than `tolerance` s."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, separator, value = item.strip().partition("=")
        if not separator:
            return False
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == SIGNATURE_VERSION:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _hmac_hex(secret, timestamp, body)
    # Check every entry, so the time taken does not tell which one matched.
    matches = [hmac.compare_digest(expected, signature) for signature in signatures]
    return any(matches)


def webhook_body(notification: Notification, delivery_id: str) -> bytes:
    """The request body; identical on every retry of a delivery, so receivers can compare."""
    document = {"event": "notification", "delivery": delivery_id, "notification": notification.as_dict()}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def send_webhook(
    url: str,
    secret: str | bytes,
    notification: Notification,
    *,
    delivery_id: str,
    attempt: int = 1,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> DeliveryResult:
    """Make attempt number `attempt` (from 1) of one delivery; any 2xx answer counts as delivered.

    Anything else (another status, a timeout, no connection) is a failure: the result
    carries `retry_at` from the policy, or is `dead_lettered` after the last attempt.
    Redirects are not followed: a receiver that moved must be reconfigured. Pass a
    long-lived `client` to reuse connections and its TLS set-up across deliveries.
    """
    stopwatch = Stopwatch()
    body = webhook_body(notification, delivery_id)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Leitstand-Webhook/1",
        DELIVERY_HEADER: delivery_id,
        SIGNATURE_HEADER: sign_webhook(secret, body, int(clock.now().timestamp())),
    }
    status_code: int | None = None
    http = client or httpx.Client()
    try:
        # Streamed and closed unread: the answer's body is of no use and could be large.
        with http.stream("POST", url, content=body, headers=headers, timeout=timeout,
                         follow_redirects=False) as response:
            status_code = response.status_code
            detail = f"{status_code} {response.reason_phrase}".strip()
    except httpx.TimeoutException:
        detail = f"no answer within {timeout:g} s"
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as error:
        # UnicodeError: a host name IDNA cannot encode (a label over 63 characters) fails in the socket layer.
        detail = f"request failed: {error}"
    finally:
        if client is None:
            http.close()
    if status_code is not None and 200 <= status_code < 300:
        return stopwatch.result(Channel.webhook, url, Outcome.delivered, attempts=attempt, status_code=status_code)
    retry_at = policy.next_attempt_at(attempt, clock.now())
    if retry_at is None:
        return stopwatch.result(Channel.webhook, url, Outcome.dead_lettered, attempts=attempt,
                                status_code=status_code, detail=f"{detail}; gave up after {attempt} attempts")
    return stopwatch.result(Channel.webhook, url, Outcome.failed, attempts=attempt, status_code=status_code,
                            detail=detail, retry_at=retry_at)
