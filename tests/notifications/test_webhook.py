"""Signed webhooks to a local receiver, and retries scheduled (not slept) by a backoff policy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from leitstand.clock import clock
from leitstand.devicetypes.spec import Severity
from leitstand.notifications.channels import (
    SIGNATURE_HEADER,
    Channel,
    Notification,
    Outcome,
    RetryPolicy,
    send_webhook,
    sign_webhook,
    verify_signature,
)
from tests.conftest import free_port

SECRET = "whsec-erp-integration-7f3a"
MIDNIGHT = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)

CHARGER_FAULT = Notification(
    title="Ladepunkt P3: Isolationsfehler",
    body="Ladevorgang abgebrochen.",
    severity=Severity.critical,
    url="https://leitstand.example/alarms/77",
    tag="alarm-77",
    data={"alarm_id": 77, "device_id": 31, "error_code": "ISO"},
)

QUICK = RetryPolicy(attempts=4, base_delay=timedelta(seconds=30), factor=2, max_delay=timedelta(seconds=90))


# --- signatures ------------------------------------------------------------------------------


def test_signature_header_has_the_documented_format() -> None:
    header = sign_webhook(SECRET, b'{"a":1}', 1_740_787_200)

    timestamp, signature = header.split(",")
    assert timestamp == "t=1740787200"
    assert signature.startswith("v1=") and len(signature) == 3 + 64


def test_signature_verifies_and_rejects_tampering() -> None:
    body = b'{"event":"notification"}'
    header = sign_webhook(SECRET, body, 1_000_000)

    assert verify_signature(SECRET, header, body, now=1_000_010)
    assert not verify_signature(SECRET, header, body + b" ", now=1_000_010)  # tampered body
    assert not verify_signature("another-secret", header, body, now=1_000_010)
    assert not verify_signature(SECRET, header.replace("t=1000000", "t=1000001"), body, now=1_000_010)
    assert not verify_signature(SECRET, header, body, tolerance=300, now=1_000_301)  # replayed too late
    assert not verify_signature(SECRET, header, body, tolerance=300, now=999_699)  # from the future


@pytest.mark.parametrize("header", ["", "t=1000000", "v1=abc", "t=soon,v1=abc", "t=1000000;v1=abc", "garbage"])
def test_malformed_signature_headers_are_rejected(header: str) -> None:
    assert not verify_signature(SECRET, header, b"{}", now=1_000_000)


def test_any_matching_signature_is_enough_while_a_secret_rotates() -> None:
    body = b"{}"
    old = sign_webhook("old-secret", body, 1_000_000)
    new = sign_webhook(SECRET, body, 1_000_000)
    both = old + "," + new.split(",")[1]

    assert verify_signature(SECRET, both, body, now=1_000_000)
    assert verify_signature("old-secret", both, body, now=1_000_000)


# --- delivery --------------------------------------------------------------------------------


def test_webhook_arrives_signed_and_the_receiver_verifies_it(webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    result = send_webhook(webhook_receiver.url, SECRET, CHARGER_FAULT, delivery_id="dlv-1")

    assert result.ok, result.detail
    assert (result.channel, result.target, result.status_code, result.attempts) == (
        Channel.webhook, webhook_receiver.url, 200, 1)
    assert result.latency_ms > 0 and result.retry_at is None
    [request] = webhook_receiver.requests
    assert verify_signature(SECRET, request.headers[SIGNATURE_HEADER], request.body)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Leitstand-Delivery"] == "dlv-1"
    assert json.loads(request.body) == {"event": "notification", "delivery": "dlv-1",
                                        "notification": CHARGER_FAULT.as_dict()}
    assert not verify_signature(SECRET, request.headers[SIGNATURE_HEADER], request.body.replace(b"77", b"78"))


def test_failed_attempt_schedules_the_next_one_with_backoff(webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    clock.freeze(MIDNIGHT)
    webhook_receiver.answer_with(500, 503)

    first = send_webhook(webhook_receiver.url, SECRET, CHARGER_FAULT, delivery_id="dlv-2", policy=QUICK)
    second = send_webhook(webhook_receiver.url, SECRET, CHARGER_FAULT, delivery_id="dlv-2", policy=QUICK, attempt=2)

    assert (first.outcome, first.status_code, first.retry_at) == (Outcome.failed, 500, MIDNIGHT + timedelta(seconds=30))
    assert (second.outcome, second.status_code, second.retry_at) == (Outcome.failed, 503,
                                                                     MIDNIGHT + timedelta(seconds=60))
    assert first.detail == "500 Internal Server Error"
    assert first.latency_ms > 0


def test_scheduler_driven_retries_end_in_the_dead_letter_list(webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    """Play the scheduler: each attempt runs when the previous result says, by moving the clock."""
    clock.freeze(MIDNIGHT)
    webhook_receiver.answer_with(*[500] * QUICK.attempts)
    results = []
    attempt = 1
    while True:
        result = send_webhook(webhook_receiver.url, SECRET, CHARGER_FAULT, delivery_id="dlv-3", policy=QUICK,
                              attempt=attempt)
        results.append(result)
        if result.retry_at is None:
            break
        clock.freeze(result.retry_at)
        attempt += 1

    assert [r.outcome for r in results] == [Outcome.failed] * 3 + [Outcome.dead_lettered]
    assert [r.attempts for r in results] == [1, 2, 3, 4]
    assert [r.at for r in results] == [MIDNIGHT + timedelta(seconds=s) for s in (0, 30, 90, 180)]  # 30, 60, 90 (cap)
    assert results[-1].detail == "500 Internal Server Error; gave up after 4 attempts"
    assert all(r.latency_ms > 0 for r in results)
    # Each attempt is freshly signed at its own time, for the same unchanged body.
    requests = webhook_receiver.requests
    assert len(requests) == 4 and len({r.body for r in requests}) == 1
    assert {r.headers["Leitstand-Delivery"] for r in requests} == {"dlv-3"}
    for request, result in zip(requests, results, strict=True):
        assert verify_signature(SECRET, request.headers[SIGNATURE_HEADER], request.body, now=result.at.timestamp())


def test_receiver_that_recovers_gets_the_delivery(webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    webhook_receiver.answer_with(502)

    first = send_webhook(webhook_receiver.url, SECRET, CHARGER_FAULT, delivery_id="dlv-4", policy=QUICK)
    second = send_webhook(webhook_receiver.url, SECRET, CHARGER_FAULT, delivery_id="dlv-4", policy=QUICK, attempt=2)

    assert first.outcome is Outcome.failed
    assert (second.outcome, second.attempts, second.retry_at) == (Outcome.delivered, 2, None)


def test_timeout_counts_as_a_failed_attempt(webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    clock.freeze(MIDNIGHT)
    webhook_receiver.hold()

    result = send_webhook(webhook_receiver.url, SECRET, CHARGER_FAULT, delivery_id="dlv-5", policy=QUICK,
                          timeout=0.2)
    webhook_receiver.release()

    assert (result.outcome, result.status_code) == (Outcome.failed, None)
    assert result.detail == "no answer within 0.2 s"
    assert result.retry_at == MIDNIGHT + timedelta(seconds=30)
    assert result.latency_ms >= 200


def test_timeout_on_the_last_attempt_is_dead_lettered(webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    webhook_receiver.hold()

    result = send_webhook(webhook_receiver.url, SECRET, CHARGER_FAULT, delivery_id="dlv-6", policy=QUICK,
                          attempt=QUICK.attempts, timeout=0.2)
    webhook_receiver.release()

    assert result.outcome is Outcome.dead_lettered
    assert result.detail == "no answer within 0.2 s; gave up after 4 attempts"


def test_unreachable_receiver_is_a_failed_attempt() -> None:
    result = send_webhook(f"http://127.0.0.1:{free_port()}/hook", SECRET, CHARGER_FAULT, delivery_id="dlv-7")

    assert result.outcome is Outcome.failed and result.detail.startswith("request failed")
    assert result.retry_at is not None and result.latency_ms > 0


def test_host_name_that_cannot_be_encoded_is_a_failed_attempt() -> None:
    # A label over 63 characters fits the URL pattern but not IDNA; it used to escape as a 500.
    result = send_webhook(f"https://{'a' * 64}.example/hook", SECRET, CHARGER_FAULT, delivery_id="dlv-8")

    assert result.outcome is Outcome.failed and result.detail.startswith("request failed")


def test_redirect_is_not_followed(webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    webhook_receiver.answer_with(308)

    result = send_webhook(webhook_receiver.url, SECRET, CHARGER_FAULT, delivery_id="dlv-8")

    assert (result.outcome, result.status_code) == (Outcome.failed, 308)
    assert len(webhook_receiver.requests) == 1


def test_shared_client_is_reused_and_left_open(webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client() as client:
        for number in (1, 2):
            assert send_webhook(webhook_receiver.url, SECRET, CHARGER_FAULT, delivery_id=f"dlv-1{number}",
                                client=client).ok
        assert not client.is_closed

    assert len(webhook_receiver.requests) == 2


# --- the retry policy as data ----------------------------------------------------------------


def test_retry_policy_backs_off_exponentially_up_to_its_cap() -> None:
    policy = RetryPolicy(attempts=10, base_delay=timedelta(seconds=30), factor=2, max_delay=timedelta(hours=1))

    waits = [policy.next_attempt_at(attempt, MIDNIGHT) - MIDNIGHT for attempt in range(1, 10)]

    assert [w.total_seconds() for w in waits] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert policy.next_attempt_at(10, MIDNIGHT) is None
    assert policy.delay_after(10_000) == timedelta(hours=1)  # no overflow for absurd attempt numbers


def test_single_attempt_policy_dead_letters_at_once(webhook_receiver) -> None:  # type: ignore[no-untyped-def]
    webhook_receiver.answer_with(500)

    result = send_webhook(webhook_receiver.url, SECRET, CHARGER_FAULT, delivery_id="dlv-9",
                          policy=RetryPolicy(attempts=1))

    assert result.outcome is Outcome.dead_lettered


@pytest.mark.parametrize("arguments", [{"attempts": 0}, {"factor": 0.5}])
def test_retry_policy_rejects_nonsense(arguments) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        RetryPolicy(**arguments)
