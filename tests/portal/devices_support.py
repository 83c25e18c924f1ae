"""Support for the device pages' browser tests: a device that answers commands, layout checks.

`SimulatorSender` is a transport whose far end is the real simulator model
(leitstand.simulator.devices): a command handed to it reaches the simulated device on
a worker thread, as it would over the broker, and the device's answers (delivered,
its new telemetry, succeeded, stored as confirmed) go back through the application's ingest pipeline into
the real database, which publishes the live updates the page listens to. With `queueing`
on it acts as a LoRaWAN network server: it holds each command (queued) until `release()`,
the device's next uplink, hands it over.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from leitstand.clock import clock
from leitstand.ingest.message import CommandRequest, DeviceMessage
from leitstand.ingest.pipeline import Ingestor
from leitstand.simulator.devices import MODELS, SimulatedDevice
from leitstand.transports.base import DeliveryFailed, Handover


class SimulatorSender:
    name = "simulated devices"

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self.devices: dict[str, SimulatedDevice] = {}
        self._inbox: queue.Queue[CommandRequest | None] = queue.Queue()
        self.queueing = False
        self._held: list[CommandRequest] = []
        self._worker = threading.Thread(target=self._run, name="simulated devices", daemon=True)
        self._worker.start()

    def add(self, serial: str, type_key: str, seed: int = 7) -> SimulatedDevice:
        """Bring a simulated device of this type online: it reports its state once."""
        device = MODELS[type_key](serial=serial, rng=random.Random(seed))
        device.error_rate = 0.0  # no random error codes in the middle of a test
        self.report(device.tick(self._now()))
        self.devices[serial] = device
        return device

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def deliver(self, request: CommandRequest) -> Handover:
        if request.serial not in self.devices:
            raise DeliveryFailed(f"{request.serial} is not connected")
        if self.queueing:
            self._held.append(request)
            return Handover.queued
        self._inbox.put(request)
        return Handover.sent

    def release(self) -> None:
        """The device's next uplink: the network server hands over the commands it held."""
        held, self._held = self._held, []
        for request in held:
            self._inbox.put(request)

    def close(self) -> None:
        self._inbox.put(None)
        self._worker.join(timeout=10)

    def report(self, messages: list[DeviceMessage]) -> None:
        report = self.ingestor.accept(messages)
        assert not report.rejected, f"ingest refused simulated messages: {dict(report.rejected)}"

    def _now(self) -> datetime:
        return clock.now().astimezone(UTC)

    def _run(self) -> None:
        while (request := self._inbox.get()) is not None:
            answers = self.devices[request.serial].execute(request, self._now())
            # As separate messages, the way a device sends them: "got it" first, then the outcome.
            self.report(answers[:1])
            self.report(answers[1:])


def fits_sideways(page) -> bool:  # type: ignore[no-untyped-def]
    """The page's content needs no sideways scrolling (wide tables scroll inside their own box)."""
    return bool(page.evaluate("(() => { const main = document.querySelector('main'); return main.scrollWidth <= main.clientWidth; })()"))


def wait_for_live_subscribers(app, count: int = 1, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until this many pages hold the live stream open: an update sent earlier reaches nobody."""
    _wait_until(lambda: app.state.live_hub.subscriber_count >= count, timeout, f"{count} live subscriber(s)")


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
