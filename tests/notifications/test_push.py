"""Web Push end to end: signed by us, checked and decrypted by the local push service."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import httpx
import pytest
from py_vapid import Vapid

from leitstand.clock import clock
from leitstand.devicetypes.spec import Severity
from leitstand.notifications.channels import (
    Channel,
    Notification,
    Outcome,
    PushSubscription,
    application_server_key,
    generate_vapid_keys,
    send_push,
)
from leitstand.notifications.channels.push import MAX_PAYLOAD_BYTES, push_topic
from tests.conftest import free_port

SUBJECT = "mailto:ops@leitstand.example"

BARRIER_DOWN = Notification(
    title="Schranke Einfahrt Nord: Motor blockiert",
    body="Fehler E12 seit 08:14. Schritte zur Behebung in der Alarmansicht.",
    severity=Severity.critical,
    url="https://leitstand.example/alarms/41",
    tag="alarm-41",
    data={"alarm_id": 41, "device_id": 7, "error_code": "E12"},
)


def test_vapid_keys_are_a_p256_pair_browsers_accept() -> None:
    keys = generate_vapid_keys()

    point = base64.urlsafe_b64decode(keys.application_server_key + "=" * (-len(keys.application_server_key) % 4))
    assert len(point) == 65 and point[0] == 0x04  # uncompressed P-256 point
    assert "=" not in keys.application_server_key
    assert keys.private_key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert application_server_key(keys.private_key_pem) == keys.application_server_key


def test_push_arrives_decrypted_at_the_push_service(push_service, subscribe, vapid) -> None:  # type: ignore[no-untyped-def]
    subscription = subscribe()

    result = send_push(subscription, BARRIER_DOWN, vapid.private_key_pem, SUBJECT)

    assert result.ok, result.detail
    assert (result.channel, result.target, result.status_code) == (Channel.push, subscription.endpoint, 201)
    assert result.latency_ms > 0
    [push] = push_service.received
    assert push.json() == {
        "title": "Schranke Einfahrt Nord: Motor blockiert",
        "body": "Fehler E12 seit 08:14. Schritte zur Behebung in der Alarmansicht.",
        "severity": "critical",
        "url": "https://leitstand.example/alarms/41",
        "tag": "alarm-41",
        "data": {"alarm_id": 41, "device_id": 7, "error_code": "E12"},
    }
    assert (push.urgency, push.ttl) == ("high", 24 * 3600)
    assert push.topic == push_topic("alarm-41") and len(push.topic) == 32
    assert push.claims["aud"] == push_service.origin and push.claims["sub"] == SUBJECT


@pytest.mark.parametrize(("severity", "urgency", "ttl"), [
    (Severity.major, "high", 12 * 3600),
    (Severity.minor, "normal", 4 * 3600),
    (Severity.warning, "low", 3600),
])
def test_severity_decides_urgency_and_time_to_live(push_service, subscribe, vapid, severity, urgency, ttl) -> None:  # type: ignore[no-untyped-def]
    notification = Notification(title="Batterie schwach", body="Thermostat 3.12", severity=severity)

    assert send_push(subscribe(), notification, vapid.private_key_pem, SUBJECT).ok

    [push] = push_service.received
    assert (push.urgency, push.ttl, push.topic) == (urgency, ttl, None)


def test_expired_subscription_is_reported_gone(push_service, subscribe, vapid) -> None:  # type: ignore[no-untyped-def]
    subscription = subscribe()
    push_service.expire(subscription.endpoint)

    result = send_push(subscription, BARRIER_DOWN, vapid.private_key_pem, SUBJECT)

    assert (result.outcome, result.status_code) == (Outcome.gone, 410)
    assert push_service.received == []


def test_subscription_the_push_service_never_issued_is_reported_gone(push_service, subscribe, vapid) -> None:  # type: ignore[no-untyped-def]
    issued = subscribe()
    unknown = PushSubscription(f"{push_service.origin}/push/never-issued", issued.p256dh, issued.auth)

    result = send_push(unknown, BARRIER_DOWN, vapid.private_key_pem, SUBJECT)

    assert (result.outcome, result.status_code) == (Outcome.gone, 404)


def test_subscription_with_unusable_keys_is_reported_gone_without_sending(push_service, subscribe, vapid) -> None:  # type: ignore[no-untyped-def]
    issued = subscribe()
    broken = PushSubscription(issued.endpoint, p256dh="BAAA", auth=issued.auth)

    result = send_push(broken, BARRIER_DOWN, vapid.private_key_pem, SUBJECT)

    assert result.outcome is Outcome.gone and result.status_code is None
    assert push_service.received == [] and push_service.refused == []


def test_push_signed_with_another_key_is_refused(push_service, subscribe) -> None:  # type: ignore[no-untyped-def]
    subscription = subscribe()
    forger = generate_vapid_keys()

    result = send_push(subscription, BARRIER_DOWN, forger.private_key_pem, SUBJECT)

    assert (result.outcome, result.status_code) == (Outcome.failed, 403)
    assert push_service.received == []
    assert push_service.refused[0].reason == "VAPID key is not the one this subscription was made for"


def test_expired_vapid_token_is_refused(push_service, subscribe, vapid) -> None:  # type: ignore[no-untyped-def]
    subscription = subscribe()
    # Our tokens live 12 h from the platform clock; 13 h in the past they are already expired.
    clock.freeze(clock.now() - timedelta(hours=13))

    result = send_push(subscription, BARRIER_DOWN, vapid.private_key_pem, SUBJECT)

    assert (result.outcome, result.status_code) == (Outcome.failed, 401)
    assert push_service.refused[0].reason == "VAPID token expired"
    assert result.latency_ms > 0


def test_stub_refuses_a_token_whose_signature_does_not_verify(push_service, subscribe, vapid) -> None:  # type: ignore[no-untyped-def]
    """The stub itself must check signatures, or the forged-key test above would prove little."""
    from cryptography.hazmat.primitives import serialization

    subscription = subscribe()
    private_key = serialization.load_pem_private_key(vapid.private_key_pem.encode(), password=None)
    authorization = Vapid(private_key=private_key).sign(
        {"sub": SUBJECT, "aud": push_service.origin, "exp": int(clock.now().timestamp()) + 3600}
    )["Authorization"]
    token_start = authorization.index("t=") + 2
    token_end = authorization.index(",", token_start)
    token = authorization[token_start:token_end]
    head, claims, signature = token.split(".")
    forged_claims = base64.urlsafe_b64encode(
        json.dumps({"sub": SUBJECT, "aud": push_service.origin, "exp": int(clock.now().timestamp()) + 7200}).encode()
    ).rstrip(b"=").decode()
    forged = authorization[:token_start] + f"{head}.{forged_claims}.{signature}" + authorization[token_end:]

    response = httpx.post(subscription.endpoint, content=b"x", headers={
        "Authorization": forged, "TTL": "60", "Content-Encoding": "aes128gcm"})

    assert response.status_code == 401
    assert push_service.refused[0].reason == "VAPID signature invalid"


def test_over_long_body_is_shortened_not_lost(push_service, subscribe, vapid) -> None:  # type: ignore[no-untyped-def]
    long_report = Notification(title="Zählerstand", body="Ä\"" * 3000, severity=Severity.minor)

    assert send_push(subscribe(), long_report, vapid.private_key_pem, SUBJECT).ok

    [push] = push_service.received
    assert len(push.payload) <= MAX_PAYLOAD_BYTES
    assert push.json()["body"].endswith("…")
    assert push.json()["body"].startswith("Ä\"Ä\"")


def test_unreachable_push_service_is_a_failure_with_latency(vapid, subscribe) -> None:  # type: ignore[no-untyped-def]
    subscription = subscribe()
    nowhere = PushSubscription(f"http://127.0.0.1:{free_port()}/push/x", subscription.p256dh, subscription.auth)

    result = send_push(nowhere, BARRIER_DOWN, vapid.private_key_pem, SUBJECT, timeout=2)

    assert result.outcome is Outcome.failed and result.status_code is None
    assert "unreachable" in result.detail
    assert result.latency_ms > 0
