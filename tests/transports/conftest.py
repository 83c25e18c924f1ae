"""Fixtures: a real Mosquitto (session-wide), the embedded broker (per test), MQTT probes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from leitstand.config import Settings
from leitstand.transports.mqtt.dynsec import MosquittoDeviceAdmin
from leitstand.transports.mqtt.embedded import EmbeddedBroker
from tests.conftest import free_port
from tests.helpers.ingest import bare_ingestor
from tests.transports.mqtt_support import WAIT, Mosquitto, MqttProbe, start_mosquitto


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    broker = start_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield broker
    broker.process.terminate()
    broker.process.wait(WAIT)


@pytest.fixture(scope="session")
def dynsec(mosquitto: Mosquitto) -> Iterator[MosquittoDeviceAdmin]:
    with mosquitto.admin() as admin:
        yield admin


# --- the embedded broker ---------------------------------------------------------------------


@pytest.fixture
def embedded_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"mqtt_broker": "embedded", "mqtt_host": "127.0.0.1", "mqtt_port": free_port(),
                                       "mqtt_service_password": "embedded-service-secret"})


@pytest.fixture
def embedded_broker(embedded_settings: Settings, session_factory: Any) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(embedded_settings, session_factory, bare_ingestor(session_factory))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def mqtt_probe() -> Iterator[Callable[..., MqttProbe]]:
    probes: list[MqttProbe] = []

    def make(*args: Any, **kwargs: Any) -> MqttProbe:
        probe = MqttProbe(*args, **kwargs)
        probes.append(probe)
        return probe

    yield make
    for probe in probes:
        probe.close()
