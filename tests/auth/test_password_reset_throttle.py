"""Password-reset requests cannot flood a mailbox, and their answer tells nothing: quotas
per address and per client, the same work for known and unknown addresses, and the mail
sent in the background so the answer never waits for the SMTP server."""

from __future__ import annotations

import re
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from fastapi.testclient import TestClient

from leitstand.clock import clock
from leitstand.users import service
from leitstand.runtime import app_without_transports
from tests.auth.test_login_api import assert_problem

RESET = "/api/v1/auth/password-reset"
READER = "reader@alpha.test"
TOKEN = re.compile(r"/password-reset\?token=([A-Za-z0-9_-]+)")


def from_address(app, address: str) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, base_url="http://localhost:8000", client=(address, 50000))


def token_in(message) -> str:  # type: ignore[no-untyped-def]
    match = TOKEN.search(message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8"))
    assert match
    return match.group(1)


def test_a_flood_of_requests_for_one_address_sends_at_most_its_quota_and_the_newest_link_works(world, app, settings, smtp):
    answers = [from_address(app, f"203.0.113.{n + 1}").post(RESET, json={"email": READER}) for n in range(30)]

    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.content for answer in answers}) == 1
    mails = smtp.to(READER)
    assert len(mails) == settings.password_reset_per_address
    confirm = {"token": token_in(mails[-1]), "password": "a brand new passphrase"}
    assert world.client.post(f"{RESET}/confirm", json=confirm).status_code == 204


def test_a_client_asking_too_often_is_refused_until_its_window_has_passed(world, app, settings, smtp):
    clock.freeze()
    asker = from_address(app, "203.0.113.9")
    for n in range(settings.password_reset_per_client):
        assert asker.post(RESET, json={"email": f"someone{n}@alpha.test"}).status_code == 202

    refused = asker.post(RESET, json={"email": READER})

    assert_problem(refused, 429, "reset-throttled")
    assert int(refused.headers["Retry-After"]) == settings.password_reset_window_minutes * 60
    assert smtp.to(READER) == []
    assert from_address(app, "198.51.100.7").post(RESET, json={"email": READER}).status_code == 202
    clock.advance(timedelta(minutes=settings.password_reset_window_minutes))
    assert asker.post(RESET, json={"email": READER}).status_code == 202


def test_known_and_unknown_addresses_go_through_the_same_steps(world, app, monkeypatch):
    steps: list[str] = []
    real_new_token, real_digest = service.new_token, service.token_digest
    monkeypatch.setattr(service, "new_token", lambda *args: steps.append("new token") or real_new_token(*args))
    monkeypatch.setattr(service, "token_digest", lambda token: steps.append("digest") or real_digest(token))
    client = from_address(app, "203.0.113.1")

    assert client.post(RESET, json={"email": READER}).status_code == 202
    known = steps[:]
    steps.clear()
    assert client.post(RESET, json={"email": "nobody@alpha.test"}).status_code == 202

    assert known == ["new token", "digest"]
    assert steps == known


def test_the_answer_does_not_wait_for_the_mail_server(world, settings):
    # A mail server that accepts the connection and then never says a word.
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)
    with app_without_transports(settings.model_copy(update={"smtp_port": mute.getsockname()[1]})) as silent_app:
        pool = ThreadPoolExecutor(max_workers=1)
        try:
            answer = pool.submit(from_address(silent_app, "203.0.113.1").post, RESET, json={"email": READER})
            assert answer.result(timeout=5).status_code == 202
        finally:
            mute.settimeout(10)
            connection, _ = mute.accept()  # the mail's connection, waiting for a greeting
            connection.close()  # so the sender gives up at once
            mute.close()
            pool.shutdown(wait=True)
    from leitstand.mail.outbox import sender

    assert sender.wait_until_sent(timeout=15)
