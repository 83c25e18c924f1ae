"""The ports between transports and domains: the Ask port, the registry, the command router."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from leitstand.commands.router import CommandRouter
from leitstand.ingest.message import BindingKey, CommandRequest, native_key
from leitstand.transports import registry
from leitstand.transports.base import Ask, DeliveryFailed, NoAnswer
from tests.helpers.transports import RecordingTransport


def on_an_event_loop(coroutine: Any) -> Any:
    """Run the coroutine on an event loop of its own thread, as a transport's loop would: the
    test's own thread may hold one already (Playwright's, after a browser test in this worker)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass(frozen=True)
class Authorize:
    tag: str


@pytest.fixture
def ask():  # type: ignore[no-untyped-def]
    port = Ask()
    yield port
    port.close()


def test_a_question_gets_the_answer_of_the_handler_its_domain_registered(ask: Ask) -> None:
    ask.answer_with(Authorize, lambda question: "Accepted" if question.tag == "04A1" else "Invalid")

    assert ask.ask(Authorize("04A1"), timeout=5) == "Accepted"
    assert ask.ask(Authorize("FFFF"), timeout=5) == "Invalid"
    assert on_an_event_loop(ask.ask_async(Authorize("04A1"), timeout=5)) == "Accepted"


def test_a_question_nobody_answers_in_time_is_no_answer_not_a_hang(ask: Ask) -> None:
    release = threading.Event()
    ask.answer_with(Authorize, lambda question: release.wait(30))
    try:
        with pytest.raises(NoAnswer, match="within 0.2 s"):
            ask.ask(Authorize("04A1"), timeout=0.2)
        with pytest.raises(NoAnswer, match="within 0.2 s"):
            on_an_event_loop(ask.ask_async(Authorize("04A1"), timeout=0.2))
    finally:
        release.set()


def test_a_question_without_handler_is_refused_and_a_second_handler_too(ask: Ask) -> None:
    with pytest.raises(NoAnswer, match="no handler answers Authorize"):
        ask.ask(Authorize("04A1"), timeout=1)
    ask.answer_with(Authorize, lambda question: "Accepted")
    with pytest.raises(ValueError, match="has a handler already"):
        ask.answer_with(Authorize, lambda question: "Blocked")


def test_an_unknown_transport_name_in_the_settings_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown transport\(s\) lorawn; known: .*mqtt"):
        registry.enabled(["mqtt", "lorawn"], "all")
    assert [entry.name for entry in registry.enabled(["mqtt", "http"], "all")] == ["mqtt"]  # http is routes only
    # The scheduler sends commands too (heating targets); LoRaWAN uplinks come by webhook, not to ingest.
    assert [entry.name for entry in registry.enabled(["mqtt", "lorawan"], "scheduler")] == ["mqtt", "lorawan"]
    assert [entry.name for entry in registry.enabled(["mqtt", "lorawan"], "ingest")] == ["mqtt"]


def test_the_router_hands_a_command_to_the_transport_of_its_binding_or_says_why_not() -> None:
    router, native, other = CommandRouter(), RecordingTransport(), RecordingTransport()
    router.attach("native", native)
    router.attach("double", other)
    request = CommandRequest(serial="B-1", command_id="c1", name="open", parameters={},
                             expires_at=datetime(2030, 1, 1, tzinfo=UTC))

    at_double = BindingKey("double", 7, "70B3D57ED0001234")

    router.deliver(request, [BindingKey("ocpp", 3, "CP-1"), at_double])
    assert (native.sent, [sent.binding for sent in other.sent]) == ([], [at_double])
    router.deliver(request)  # no binding named: the native one, by serial
    assert [sent.binding for sent in native.sent] == [native_key("B-1")]
    with pytest.raises(DeliveryFailed, match="no transport of this process delivers to ocpp devices"):
        router.deliver(request, [BindingKey("ocpp", 3, "CP-1")])
    router.detach(native)
    with pytest.raises(DeliveryFailed, match="native"):
        router.deliver(request)
