"""The ports between transports and the rest of the platform.

A transport (MQTT, HTTP, a LoRaWAN network server, OCPP, a meter-file source) turns its
frames into canonical `DeviceMessage`s and hands them to the `Ingest` port; it takes
`CommandRequest`s back through `Transport.deliver`. When it must answer its peer at once
(an OCPP Authorize, say), it asks the `Ask` port, where a domain has registered the
handler. A transport imports this module, `leitstand.ingest.message` and `leitstand.devices`,
never the pipeline or a domain: `pyproject.toml`'s import contracts check it.
"""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from leitstand.ingest.message import LIVE_BACKFILL, BackfillPolicy, CommandRequest, DeviceMessage, IngestReport

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from leitstand.config import Settings


class Ingest(Protocol):
    """Where a transport hands what its devices said (`leitstand.ingest.pipeline.Ingestor`)."""

    def accept(self, messages: Sequence[DeviceMessage], backfill: BackfillPolicy = LIVE_BACKFILL) -> IngestReport:
        """Store a batch in one transaction; returns only after the commit, so a transport
        acknowledges to its peer after this returns and never before. `backfill`: how old
        the readings of this source may be (a live transport's window, or a batch source's)."""

    def reject(self, serial: str | None, reason: str, detail: str) -> None:
        """Count a frame that never became a message (`RejectReason`), on its device if known."""


class Handover(enum.StrEnum):
    """How far a transport got with a command when `deliver` returned."""

    sent = "sent"  # on its way to the device
    queued = "queued"  # held by the network server until the device next listens (LoRaWAN class A)


@dataclass(frozen=True)
class Receipt:
    """A hand-over with the network's own id of the downlink (a ChirpStack queue item id),
    which the network's later reports on it name."""

    handover: Handover
    network_ref: str | None = None


class DeliveryFailed(RuntimeError):
    """The transport could not take the command (broker down, device unreachable)."""


@runtime_checkable
class Transport(Protocol):
    """A way devices talk to Leitstand, started and stopped by the runtime."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def deliver(self, request: CommandRequest) -> Handover | Receipt | None:
        """Hand a command to the device's network; return once the transport holds it (None
        means sent; a Receipt where the network names the downlink by an id of its own), or
        raise DeliveryFailed. What becomes of it later comes back as a result."""


# --- the request/response port ---------------------------------------------------------

Question = TypeVar("Question")


class NoAnswer(RuntimeError):
    """No handler is registered for the question, or it did not answer in time."""


class Ask:
    """Questions a transport must answer its peer synchronously, and the domains' handlers.

    A domain registers a handler per question type (`answer_with`); the transport asks
    (`ask` from a thread, `ask_async` from an event loop) and gets the handler's answer or
    NoAnswer after the timeout. Handlers run on a small pool of their own threads, so a slow
    database never blocks a transport's event loop, and a transport never imports a domain.
    """

    def __init__(self, workers: int = 4) -> None:
        self._handlers: dict[type, Callable[[Any], Any]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ask")

    def answer_with(self, question_type: type[Question], handler: Callable[[Question], Any]) -> None:
        with self._lock:
            if question_type in self._handlers:
                raise ValueError(f"{question_type.__name__} has a handler already")
            self._handlers[question_type] = handler

    def _handler(self, question: object) -> Callable[[Any], Any]:
        handler = self._handlers.get(type(question))
        if handler is None:
            raise NoAnswer(f"no handler answers {type(question).__name__}")
        return handler

    def ask(self, question: object, timeout: float) -> Any:
        future = self._pool.submit(self._handler(question), question)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise NoAnswer(f"{type(question).__name__} not answered within {timeout:g} s") from None

    async def ask_async(self, question: object, timeout: float) -> Any:
        handler = self._handler(question)
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._pool, handler, question), timeout)
        except TimeoutError:
            raise NoAnswer(f"{type(question).__name__} not answered within {timeout:g} s") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class TransportContext:
    """What the runtime hands a transport's factory."""

    settings: Settings
    role: str  # the process's (leitstand.runtime.ROLES): a transport may run only a part of itself
    engine: Engine
    session_factory: sessionmaker[Session]
    ingest: Ingest
    ask: Ask
    name: str = "ingest-1"  # the process's name among its peers (an MQTT client id, say)
    options: dict[str, Any] = field(default_factory=dict)  # a transport's own start options
