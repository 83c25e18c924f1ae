"""Simulated devices that behave like the real ones, message for message.

Each model knows its state, what it reports on a tick, and how it answers a command:
a barrier confirms receipt, swings open, counts a cycle and reports success. They
produce canonical messages; the fleet runner puts them on the wire with our codec.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from leitstand.ingest.message import CommandOutcome, CommandRequest, DeviceMessage, MessageKind, Reading


@dataclass
class SimulatedDevice:
    serial: str
    rng: random.Random
    error_rate: float = 0.002  # chance per tick of reporting an error code
    errors: tuple[str, ...] = ()
    messages_sent: int = 0
    recovery_ticks: int = 5  # a reported fault goes away after this many ticks
    active_faults: dict[str, int] = field(default_factory=dict)  # code -> ticks until it recovers
    # The serial of the gateway the uplinks come through (LoRaWAN), named once, as the network
    # server reports it: the portal counts these uplinks as the gateway's signs of life.
    gateway: str | None = None
    gateway_named: bool = False

    def telemetry(self, now: datetime) -> dict[str, float | str | bool]:
        return {}

    def tick(self, now: datetime) -> list[DeviceMessage]:
        out = [DeviceMessage(serial=self.serial, kind=MessageKind.telemetry, received_at=now,
                             readings=tuple(Reading(key, now, value) for key, value in self.telemetry(now).items()))]
        if self.gateway and not self.gateway_named:
            self.gateway_named = True
            out.append(DeviceMessage(serial=self.serial, kind=MessageKind.attributes, received_at=now, sent_at=now,
                                     attributes={"gateway": self.gateway}))
        for code in list(self.active_faults):
            self.active_faults[code] -= 1
            if self.active_faults[code] <= 0:
                out.append(self.recover(code, now))
        if self.errors and self.rng.random() < self.error_rate:
            out.append(self.report_fault(self.rng.choice(self.errors), now))
        return out

    def report_fault(self, code: str, now: datetime) -> DeviceMessage:
        self.active_faults[code] = self.recovery_ticks
        return DeviceMessage(serial=self.serial, kind=MessageKind.event, received_at=now, sent_at=now, event_code=code)

    def recover(self, code: str, now: datetime) -> DeviceMessage:
        """The fault is gone: the same code with `active: false`, which clears its alarm."""
        self.active_faults.pop(code, None)
        return DeviceMessage(serial=self.serial, kind=MessageKind.event, received_at=now, sent_at=now, event_code=code,
                             event_data={"active": False})

    def heartbeat(self, now: datetime) -> DeviceMessage:
        return DeviceMessage(serial=self.serial, kind=MessageKind.heartbeat, received_at=now, sent_at=now)

    def execute(self, command: CommandRequest, now: datetime) -> list[DeviceMessage]:
        """Answer a command: delivered at once, then the result and the new state."""
        delivered = self._result(command, CommandOutcome.delivered, now)
        handler = getattr(self, f"do_{command.name}", None)
        if handler is None:
            return [delivered, self._result(command, CommandOutcome.failed, now, f"unsupported: {command.name}")]
        try:
            handler(**command.parameters)
        except (TypeError, ValueError) as error:
            return [delivered, self._result(command, CommandOutcome.failed, now, str(error))]
        return [delivered, *self.tick(now)[:1], self._result(command, CommandOutcome.succeeded, now)]

    def _result(self, command: CommandRequest, outcome: CommandOutcome, now: datetime, detail: str = "") -> DeviceMessage:
        return DeviceMessage(serial=self.serial, kind=MessageKind.command_result, received_at=now, sent_at=now,
                             command_id=command.command_id, command_outcome=outcome, command_detail=detail)


@dataclass
class Barrier(SimulatedDevice):
    position: str = "closed"
    cycles: int = field(default=0)
    motor_temperature: float = 24.0
    errors: tuple[str, ...] = ("E01", "E02", "E03")

    def __post_init__(self) -> None:
        self.cycles = self.rng.randint(1_000, 90_000)

    def telemetry(self, now: datetime) -> dict[str, float | str | bool]:
        self.motor_temperature = round(max(-10.0, min(90.0, self.motor_temperature + self.rng.uniform(-0.4, 0.4))), 1)
        return {"position": self.position, "cycles": self.cycles, "motor_temperature": self.motor_temperature,
                "supply_voltage": round(self.rng.uniform(228.0, 234.0), 1)}

    def do_open(self) -> None:
        if self.position != "open":
            self.position = "open"
            self.cycles += 1

    def do_close(self) -> None:
        self.position = "closed"

    def do_reboot(self) -> None:
        self.motor_temperature = 24.0


@dataclass
class Bollard(SimulatedDevice):
    position: str = "up"
    cycles: int = 0
    errors: tuple[str, ...] = ("B10", "B20")

    def telemetry(self, now: datetime) -> dict[str, float | str | bool]:
        return {"position": self.position, "cycles": self.cycles,
                "hydraulic_pressure": round(self.rng.uniform(150.0, 170.0), 1)}

    def do_raise(self) -> None:
        self.position = "up"

    def do_lower(self) -> None:
        if self.position != "down":
            self.position = "down"
            self.cycles += 1


@dataclass
class Thermostat(SimulatedDevice):
    temperature: float = 19.0
    target: float = 21.0
    battery: float = 100.0
    errors: tuple[str, ...] = ("T01", "T02")
    error_rate: float = 0.0005

    def telemetry(self, now: datetime) -> dict[str, float | str | bool]:
        # The room drifts towards the target; the valve opens the further it is below.
        self.temperature = round(self.temperature + (self.target - self.temperature) * 0.1 + self.rng.uniform(-0.1, 0.1), 2)
        self.battery = max(0.0, round(self.battery - 0.001, 3))
        valve = max(0.0, min(100.0, (self.target - self.temperature) * 40))
        return {"temperature": self.temperature, "target_temperature": self.target, "valve_opening": round(valve, 1),
                "battery": self.battery, "rssi": round(self.rng.uniform(-115, -85), 0), "window_open": False}

    def do_set_target_temperature(self, celsius: float) -> None:
        if not 5 <= celsius <= 30:
            raise ValueError("target out of range")
        self.target = float(celsius)


MODELS: dict[str, type[SimulatedDevice]] = {"barrier": Barrier, "bollard": Bollard, "thermostat": Thermostat}
# Battery-powered radio devices: their uplinks reach the platform through a gateway.
RADIO_TYPES = frozenset({"thermostat"})
