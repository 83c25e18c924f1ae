"""What the vendor codecs share when they encode a command: reading its parameters and
turning a target into the whole degrees a device takes.

Not a codec itself (it defines no `CODEC`), so the registry passes it by.
"""

from __future__ import annotations

import math
from typing import Any

from leitstand.devicetypes.codecs.registry import CodecError
from leitstand.ingest.message import CommandRequest


def number(command: CommandRequest, name: str, default: float | None = None) -> float:
    """The number parameter `name` of the command, else `default`; `CodecError` if neither."""
    value: Any = command.parameters.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CodecError("bad_value", f"{command.name} needs a number `{name}`")
    return float(value)


def flag(command: CommandRequest, name: str) -> bool:
    value = command.parameters.get(name)
    if not isinstance(value, bool):
        raise CodecError("bad_value", f"{command.name} needs a true/false `{name}`")
    return value


def text(command: CommandRequest, name: str, choices: tuple[str, ...]) -> str:
    value = command.parameters.get(name)
    if value not in choices:
        raise CodecError("bad_value", f"{command.name} needs `{name}` one of {', '.join(choices)}, not {value!r}")
    return str(value)


def whole_degrees(celsius: float) -> int:
    """The whole degree a device that takes no fractions is sent: the nearest one, a half
    rounded up (19.5 -> 20, 19.4 -> 19, -0.5 -> 0). Up, because a room a little warm is the
    smaller complaint than one a little cold; the caller shows that the value was rounded."""
    return math.floor(celsius + 0.5)


def within(value: float, lowest: float, highest: float) -> float:
    """`value` held to the device's own limits: a limited value is sent, never refused."""
    return min(max(value, lowest), highest)


def in_range(command: CommandRequest, name: str, value: float, lowest: float, highest: float) -> None:
    if not lowest <= value <= highest:
        raise CodecError("bad_value", f"{command.name}: `{name}` {value:g} is not between {lowest:g} and {highest:g}")


def firmware_at_least(version: object, wanted: tuple[int, ...]) -> bool:
    """Whether a firmware text such as "4.3" or "v4.3.1" is `wanted` or later; an absent or
    unreadable version is not (the caller then falls back to what every firmware takes)."""
    if not isinstance(version, str):
        return False
    parts = version.strip().lstrip("vV").split(".")
    try:
        numbers = tuple(int(part) for part in parts)
    except ValueError:
        return False
    return numbers >= wanted
