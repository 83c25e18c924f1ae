"""Every transport Leitstand can run, by name. The runtime starts those the settings enable
(`LEITSTAND_TRANSPORTS`, default mqtt and http); the app serves the routes of all of them.

Adding a transport means adding its folder under `leitstand/transports/` and one
`TransportEntry` below: nothing in the runtime, the app or the command service changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from leitstand.transports.base import Transport, TransportContext

if TYPE_CHECKING:
    from fastapi import APIRouter


@dataclass(frozen=True)
class TransportEntry:
    name: str
    # Builds the transport of a process; None for one whose only part is its HTTP routes.
    build: Callable[[TransportContext], Transport] | None = None
    # The binding transports (DeviceBinding.transport) whose commands it delivers.
    delivers_for: tuple[str, ...] = ()
    # Its routes on the API, served by every API process whether or not the name is enabled.
    api_router: Callable[[], APIRouter] | None = None
    # The roles whose processes run it (see leitstand.runtime); the scheduler sends commands too (heating).
    roles: frozenset[str] = frozenset({"all", "ingest", "api", "scheduler"})


def _mqtt(context: TransportContext) -> Transport:
    from leitstand.transports.mqtt.transport import MqttTransport

    return MqttTransport(context)


def _http_router() -> APIRouter:
    from leitstand.transports.http.api import router

    return router


REGISTRY: dict[str, TransportEntry] = {}


def register(entry: TransportEntry) -> None:
    if entry.name in REGISTRY and REGISTRY[entry.name] != entry:
        raise ValueError(f"a transport named {entry.name!r} is registered already")
    REGISTRY[entry.name] = entry


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def _lorawan(context: TransportContext) -> Transport:
    from leitstand.transports.lorawan.transport import LorawanTransport

    return LorawanTransport(context)


def _lorawan_router() -> APIRouter:
    from leitstand.transports.lorawan.api import router

    return router


register(TransportEntry("mqtt", build=_mqtt, delivers_for=("native",)))
register(TransportEntry("http", api_router=_http_router))
# Downlinks leave from every process that sends commands: the API (a user's command) and the
# scheduler (heating targets); uplinks arrive at its webhooks, served by every API process.
register(TransportEntry("lorawan", build=_lorawan, delivers_for=("lorawan",), api_router=_lorawan_router,
                        roles=frozenset({"all", "api", "scheduler"})))  # not ingest: uplinks come by webhook


def enabled(names: list[str], role: str) -> list[TransportEntry]:
    """The entries of `names` that a process of `role` runs, in the order named."""
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown transport(s) {', '.join(unknown)}; known: {', '.join(sorted(REGISTRY))}")
    return [REGISTRY[name] for name in names if role in REGISTRY[name].roles and REGISTRY[name].build is not None]


def api_routers() -> list[APIRouter]:
    return [entry.api_router() for entry in REGISTRY.values() if entry.api_router is not None]
