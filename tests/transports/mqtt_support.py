"""Real MQTT brokers and clients for transport tests (fixtures in conftest.py).

- Mosquitto, started from the shipped deploy/mosquitto/mosquitto.conf with only paths
  and ports replaced: dynamic security initialised with `mosquitto_ctrl dynsec init`,
  a TLS listener and a WebSockets-over-TLS listener with a throw-away CA and server
  certificate made here, and the plain localhost listener Leitstand itself uses.
- Devices with MQTT credentials in the test database, for the embedded broker.
- `MqttProbe`: a paho client whose every acknowledgement (CONNACK, PUBACK, SUBACK)
  can be awaited, so the tests wait for events, never for time.
"""

from __future__ import annotations

import ipaddress
import os
import queue
import re
import secrets
import shutil
import subprocess
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from leitstand.auth.secrets import new_token, token_digest
from leitstand.bootstrap import root_tenant
from leitstand.config import Settings
from leitstand.devices.models import Device, DeviceCredential
from leitstand.licenses.models import License
from leitstand.transports.mqtt.dynsec import MosquittoDeviceAdmin
from tests.conftest import free_port, service_unavailable

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "deploy" / "mosquitto" / "mosquitto.conf"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_CTRL = shutil.which("mosquitto_ctrl") or "/usr/bin/mosquitto_ctrl"
DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
WAIT = 10.0  # upper bound for any single broker round trip in these tests


# --- a throw-away certificate authority ---------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_pki(folder: Path) -> Pki:
    """A CA and a server certificate for 127.0.0.1/localhost, valid for one day."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Leitstand test CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(folder / "ca.pem", folder / "server.crt", folder / "server.key")
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    return pki


# --- Mosquitto ------------------------------------------------------------------------------


@dataclass
class Mosquitto:
    plain_port: int
    tls_port: int
    ws_port: int
    pki: Pki
    admin_user: str
    admin_password: str
    service_user: str
    service_password: str
    process: subprocess.Popen[str]
    log: list[str]

    def admin(self) -> MosquittoDeviceAdmin:
        return MosquittoDeviceAdmin("127.0.0.1", self.plain_port, self.admin_user, self.admin_password)

    def settings(self, base: Settings, **overrides: Any) -> Settings:
        """Leitstand's settings pointing at this broker as its service user."""
        return base.model_copy(update={
            "mqtt_broker": "mosquitto", "mqtt_host": "127.0.0.1", "mqtt_port": self.plain_port,
            "mqtt_service_username": self.service_user, "mqtt_service_password": self.service_password,
            "mqtt_admin_username": self.admin_user, "mqtt_admin_password": self.admin_password, **overrides,
        })


def mosquitto_config(folder: Path, pki: Pki, dynsec_file: Path, ports: tuple[int, int, int]) -> str:
    """The shipped example with this test's paths and ports; nothing else changes."""
    plain, tls, ws = ports
    text = EXAMPLE_CONFIG.read_text()
    replacements = [
        (r"^plugin /\S+", f"plugin {DYNSEC_PLUGIN}"),
        (r"^plugin_opt_config_file \S+", f"plugin_opt_config_file {dynsec_file}"),
        (r"^persistence_location \S+", f"persistence_location {folder}/"),
        (r"^listener 1883 127\.0\.0\.1$", f"listener {plain} 127.0.0.1"),
        (r"^listener 8883$", f"listener {tls} 127.0.0.1"),
        (r"^listener 443$", f"listener {ws} 127.0.0.1"),
        (r"^certfile \S+", f"certfile {pki.cert_file}"),
        (r"^keyfile \S+", f"keyfile {pki.key_file}"),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count, f"the example mosquitto.conf no longer has {pattern!r}"
    # Running as root, Mosquitto would switch to the "mosquitto" user, who cannot read pytest's folders.
    prefix = "user root\n" if os.geteuid() == 0 else ""
    return prefix + text + "\nlog_dest stderr\n"


def start_mosquitto(folder: Path) -> Mosquitto:
    if not (Path(MOSQUITTO).exists() and Path(MOSQUITTO_CTRL).exists() and Path(DYNSEC_PLUGIN).exists()):
        service_unavailable("Mosquitto with the dynamic-security plugin is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    pki = make_pki(folder / "pki")
    admin_user, admin_password = "dynsec-admin", secrets.token_urlsafe(16)
    dynsec_file = folder / "dynamic-security.json"
    subprocess.run([MOSQUITTO_CTRL, "dynsec", "init", str(dynsec_file), admin_user, admin_password],
                   check=True, capture_output=True, text=True)
    ports = (free_port(), free_port(), free_port())
    config = folder / "mosquitto.conf"
    config.write_text(mosquitto_config(folder, pki, dynsec_file, ports))
    process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    log: list[str] = []
    running = threading.Event()

    def read_log() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line.rstrip())
            if " running" in line:
                running.set()
        running.set()  # exited: let the waiter look

    threading.Thread(target=read_log, daemon=True).start()
    if not running.wait(WAIT) or process.poll() is not None:
        process.kill()
        raise RuntimeError("Mosquitto did not start:\n" + "\n".join(log))
    broker = Mosquitto(*ports, pki=pki, admin_user=admin_user, admin_password=admin_password,
                       service_user="leitstand-service", service_password=secrets.token_urlsafe(16),
                       process=process, log=log)
    with broker.admin() as admin:
        admin.ensure_service_user(broker.service_user, broker.service_password)
    return broker


# --- devices in the database -----------------------------------------------------------------


@dataclass
class DeviceLogin:
    serial: str
    secret: str
    device: Device
    credential: DeviceCredential


def add_device(db: Any, serial: str | None = None, *, type_key: str = "barrier", licensed: bool = True) -> DeviceLogin:
    """A device of the root tenant with a live MQTT credential (and a license, if asked)."""
    root = root_tenant(db)
    assert root is not None
    serial = serial or f"T-{uuid.uuid4().hex[:10].upper()}"
    device = Device(tenant_id=root.id, type_key=type_key, serial_number=serial, name=f"Test {serial}",
                    claimed_at=datetime.now(UTC))
    db.add(device)
    db.flush()
    secret = new_token()
    credential = DeviceCredential(device_id=device.id, tenant_id=root.id, username=serial,
                                  secret_hash=token_digest(secret))
    db.add(credential)
    if licensed:
        starts = date.today() - timedelta(days=10)
        db.add(License(device_id=device.id, tenant_id=root.id, starts_on=starts, ends_on=starts + timedelta(days=365),
                       term_months=12, auto_renew=False))
    db.commit()
    return DeviceLogin(serial, secret, device, credential)


# --- an MQTT client whose acknowledgements can be awaited ------------------------------------


class MqttProbe:
    """A paho client for tests: connect(), publish() and subscribe() return the broker's
    reason codes; received messages land in `messages`. With reconnect=False a connection
    the broker closes stays closed (paho would otherwise reconnect and resend)."""

    def __init__(self, port: int, username: str | None, password: str | None, *, mqtt5: bool = True,
                 tls_ca: Path | None = None, websockets: bool = False, client_id: str | None = None,
                 reconnect: bool = True) -> None:
        self.port = port
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or username or f"probe-{uuid.uuid4().hex[:10]}",
                                  protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311,
                                  transport="websockets" if websockets else "tcp", reconnect_on_failure=reconnect)
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls_ca is not None:
            self.client.tls_set(ca_certs=str(tls_ca))
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.disconnected = threading.Event()
        self._connack: Future[ReasonCode] = Future()
        self._acks: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_ack
        self.client.on_subscribe = self._on_ack
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)

    def _on_connect(self, client: mqtt.Client, _u: Any, _flags: Any, reason: ReasonCode, _p: Any) -> None:
        if not self._connack.done():
            self._connack.set_result(reason)
        if reason.is_failure:
            client.disconnect()  # do not let paho retry a refused login

    def _on_disconnect(self, *_: Any) -> None:
        self.disconnected.set()

    def _future(self, mid: int) -> Future[Any]:
        with self._lock:
            return self._acks.setdefault(mid, Future())

    def _on_ack(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        self._future(mid).set_result(reason)

    def connect(self) -> ReasonCode:
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        return self._connack.result(WAIT)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> ReasonCode:
        """Publish; return the PUBACK's reason code (always success on MQTT 3.1.1)."""
        info = self.client.publish(topic, payload, qos=qos)
        # The PUBACK may come before this line; whichever side is first creates the future.
        return self._future(info.mid).result(WAIT)

    def subscribe(self, topic_filter: str, qos: int = 1) -> ReasonCode:
        _, mid = self.client.subscribe(topic_filter, qos=qos)
        return self._future(mid).result(WAIT)[0]

    def next_message(self, timeout: float = WAIT) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
