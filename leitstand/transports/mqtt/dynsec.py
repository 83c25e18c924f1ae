"""Managing Mosquitto's users through its dynamic-security plugin.

Leitstand keeps one Mosquitto client (user) per device, named by the serial number,
and one role per device, `device:{serial}`, that confines it to its own topics:

    publishClientSend     ls/v1/{serial}/up/#     allow
    subscribePattern      ls/v1/{serial}/down/#   allow
    publishClientReceive  ls/v1/{serial}/down/#   allow, then # deny

Everything else falls to the plugin's default ACL access, which denies publishing and
subscribing. Leitstand's own service user gets the role `leitstand-service`
(everything under ls/v1, including shared subscriptions).

Commands go to `$CONTROL/dynamic-security/v1` as `{"commands": [...]}`, each with a
`correlationData`; the plugin answers on `$CONTROL/dynamic-security/v1/response`.
Every call waits for its answer, bounded by a timeout, and raises `DynsecError` if the
plugin reports an error.

Mosquitto stores only its own salted hash of each password. Leitstand stores only the
SHA-256 digest of the device secret, so a Mosquitto that lost its
dynamic-security.json cannot be refilled from Leitstand's database: back the file up.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from leitstand.config import Settings
from leitstand.transports.native import topics

log = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
SERVICE_ROLE = "leitstand-service"


class DynsecError(RuntimeError):
    """The plugin refused a command, or did not answer in time."""

    def __init__(self, command: str, error: str) -> None:
        super().__init__(f"{command}: {error}")
        self.command = command
        self.error = error


def device_role(serial: str) -> str:
    return f"device:{serial}"


def device_acls(serial: str) -> list[dict[str, Any]]:
    own_downlinks = topics.device_subscribe_filter(serial)
    return [
        {"acltype": "publishClientSend", "topic": topics.device_publish_filter(serial), "allow": True},
        {"acltype": "subscribePattern", "topic": own_downlinks, "allow": True},
        # Receiving is allowed by default; deny all but its own downlinks, so even a session
        # taken over under another client's id delivers nothing else to the device.
        {"acltype": "publishClientReceive", "topic": own_downlinks, "allow": True, "priority": 1},
        {"acltype": "publishClientReceive", "topic": "#", "allow": False, "priority": 0},
    ]


def service_acls() -> list[dict[str, Any]]:
    everything = f"{topics.PREFIX}/#"
    return [
        {"acltype": "publishClientSend", "topic": everything, "allow": True},
        {"acltype": "subscribePattern", "topic": everything, "allow": True},
        # Mosquitto checks a shared subscription with its $share/{group}/ prefix.
        {"acltype": "subscribePattern", "topic": f"$share/+/{everything}", "allow": True},
    ]


class MosquittoDeviceAdmin:
    """Creates, rotates and revokes device users in a Mosquitto with dynamic security.

    Connects as the dynamic-security admin (created by `mosquitto_ctrl dynsec init`).
    Thread-safe; use as a context manager or call close().
    """

    def __init__(self, host: str, port: int, admin_user: str, admin_password: str, *,
                 tls_ca_file: str | None = None, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._broker = (host, port, tls_ca_file)
        self._pending: dict[str, tuple[str, Future[dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._ready: Future[None] = Future()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"leitstand-dynsec-{uuid.uuid4().hex[:12]}",
                             protocol=mqtt.MQTTv5)
        client.username_pw_set(admin_user, admin_password)
        if tls_ca_file:
            client.tls_set(ca_certs=tls_ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        self._client = client
        client.connect(host, port)
        client.loop_start()
        try:
            self._ready.result(timeout)
        except FutureTimeout:
            self.close()
            raise DynsecError("connect", f"no answer from {host}:{port} within {timeout} s") from None
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_settings(cls, settings: Settings) -> MosquittoDeviceAdmin:
        """As the dynamic-security admin of the settings, where Leitstand's own processes connect."""
        return cls(settings.mqtt_host, settings.mqtt_port, settings.mqtt_admin_username, settings.mqtt_admin_password,
                   tls_ca_file=settings.mqtt_tls_ca_file or None)

    # --- paho callbacks (network thread) ---------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            if not self._ready.done():
                self._ready.set_exception(DynsecError("connect", str(reason)))
            return
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any) -> None:
        if self._ready.done():
            return
        if any(reason.is_failure for reason in reasons):
            self._ready.set_exception(DynsecError("subscribe", f"{RESPONSE_TOPIC}: {reasons[0]}"))
        else:
            self._ready.set_result(None)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if not self._ready.done():
            self._ready.set_exception(DynsecError("connect", f"disconnected: {reason}"))

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(message.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable dynamic-security response: %r", message.payload[:200])
            return
        for response in responses:
            with self._lock:
                entry = self._pending.pop(str(response.get("correlationData")), None)
            if entry is not None:
                entry[1].set_result(response)

    # --- commands ------------------------------------------------------------------

    def execute(self, commands: Sequence[dict[str, Any]], *, tolerate: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Send commands in one message and wait for every answer.

        `tolerate`: error texts that count as success (e.g. "Client already exists" when
        the wanted state is already there). Any other error raises DynsecError.
        """
        waiting: list[tuple[str, Future[dict[str, Any]]]] = []
        batch = []
        with self._lock:
            for command in commands:
                correlation = uuid.uuid4().hex
                future: Future[dict[str, Any]] = Future()
                self._pending[correlation] = (command["command"], future)
                waiting.append((command["command"], future))
                batch.append({**command, "correlationData": correlation})
        # QoS 0: the answer is the acknowledgement (no answer in time raises). With QoS 1,
        # Mosquitto writes the PUBACK and then the answer as two small packets, and Nagle holds
        # the answer back until our delayed ACK: 40 ms per call instead of about 1 ms.
        self._client.publish(CONTROL_TOPIC, json.dumps({"commands": batch}), qos=0)
        results = []
        try:
            for name, future in waiting:
                try:
                    response = future.result(self.timeout)
                except FutureTimeout:
                    raise DynsecError(name, f"no answer within {self.timeout} s") from None
                error = response.get("error")
                if error and error not in tolerate:
                    raise DynsecError(name, error)
                results.append(response)
        finally:
            with self._lock:
                for correlation in [c["correlationData"] for c in batch]:
                    self._pending.pop(correlation, None)
        return results

    def provision(self, serial: str, password: str) -> None:
        """Create the device's user and role; if they exist, set the password and enable it."""
        _check_serial(serial)
        role = device_role(serial)
        self.execute([{"command": "createRole", "rolename": role, "acls": device_acls(serial)}],
                     tolerate=["Role already exists"])
        # The client id is pinned to the serial: a device cannot take over Leitstand's own
        # sessions (or another device's) by connecting under their client id.
        created = self.execute([{"command": "createClient", "username": serial, "password": password, "clientid": serial,
                                 "roles": [{"rolename": role}]}], tolerate=["Client already exists"])
        if created[0].get("error"):
            self._update_existing(serial, password, role, clientid=serial)
            self.execute([{"command": "enableClient", "username": serial}])

    def rotate(self, serial: str, password: str) -> None:
        """Replace the device's password. Mosquitto disconnects a session that used the old one."""
        _check_serial(serial)
        self.execute([{"command": "setClientPassword", "username": serial, "password": password}])

    def revoke(self, serial: str) -> None:
        """Delete the device's user (disconnecting it) and its role. Repeating it is harmless."""
        _check_serial(serial)
        self.execute([{"command": "deleteClient", "username": serial}], tolerate=["Client not found"])
        self.execute([{"command": "deleteRole", "rolename": device_role(serial)}], tolerate=["Role not found"])

    def apply_credentials(self, serial: str, secret: str | None) -> None:
        """A listener of `leitstand.devices.claiming.CREDENTIAL_CHANGES`: a new secret (claim,
        rotation) provisions the user or replaces its password, None (decommission) revokes it."""
        if secret is None:
            self.revoke(serial)
        else:
            self.provision(serial, secret)

    def ensure_service_user(self, username: str, password: str) -> list[str]:
        """Bring Leitstand's own user and its role `leitstand-service` into the wanted state
        (`leitstand broker setup`). Returns what was changed: nothing, if all was in place.

        The password is set only if the user cannot log in with it, because setting it
        disconnects the user's sessions (running workers reconnect)."""
        changes = self._ensure_service_role()
        found = self.execute([{"command": "getClient", "username": username}], tolerate=["Client not found"])[0]
        if found.get("error"):
            self.execute([{"command": "createClient", "username": username, "password": password,
                           "roles": [{"rolename": SERVICE_ROLE}]}])
            return [*changes, f"created user {username} with role {SERVICE_ROLE}"]
        client = found.get("data", {}).get("client", {})
        if SERVICE_ROLE not in {entry.get("rolename") for entry in client.get("roles", [])}:
            self.execute([{"command": "addClientRole", "username": username, "rolename": SERVICE_ROLE}])
            changes.append(f"gave user {username} the role {SERVICE_ROLE}")
        if client.get("disabled"):
            self.execute([{"command": "enableClient", "username": username}])
            changes.append(f"enabled user {username}")
        if not self.can_log_in(username, password):
            self.execute([{"command": "setClientPassword", "username": username, "password": password}])
            changes.append(f"set the password of user {username} (its connections were closed and reconnect)")
        return changes

    def _ensure_service_role(self) -> list[str]:
        found = self.execute([{"command": "getRole", "rolename": SERVICE_ROLE}], tolerate=["Role not found"])[0]
        if found.get("error"):
            self.execute([{"command": "createRole", "rolename": SERVICE_ROLE, "acls": service_acls()}])
            return [f"created role {SERVICE_ROLE}"]

        def key(acl: dict[str, Any]) -> tuple[str, str, int, bool]:
            return acl["acltype"], acl["topic"], int(acl.get("priority", 0)), bool(acl["allow"])

        have = {key(acl) for acl in found.get("data", {}).get("role", {}).get("acls", [])}
        want = {key(acl) for acl in service_acls()}
        # An ACL is named by its type and topic: remove the ones that differ, then add what is missing.
        commands = [{"command": "removeRoleACL", "rolename": SERVICE_ROLE, "acltype": acltype, "topic": topic}
                    for acltype, topic, _priority, _allow in sorted(have - want)]
        commands += [{"command": "addRoleACL", "rolename": SERVICE_ROLE, "acltype": acltype, "topic": topic,
                      "priority": priority, "allow": allow} for acltype, topic, priority, allow in sorted(want - have)]
        if not commands:
            return []
        self.execute(commands)
        return [f"set the ACLs of role {SERVICE_ROLE}"]

    def can_log_in(self, username: str, password: str) -> bool:
        """Whether the broker accepts this login (a throw-away connection with a clean session)."""
        host, port, tls_ca_file = self._broker
        answered: Future[bool] = Future()
        probe = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"leitstand-login-check-{uuid.uuid4().hex[:8]}",
                            protocol=mqtt.MQTTv5)
        probe.username_pw_set(username, password)
        if tls_ca_file:
            probe.tls_set(ca_certs=tls_ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if not answered.done():
                answered.set_result(not reason.is_failure)
            client.disconnect()

        probe.on_connect = on_connect
        probe.connect(host, port)
        probe.loop_start()
        try:
            return answered.result(self.timeout)
        except FutureTimeout:
            raise DynsecError("login check", f"no answer from {host}:{port} within {self.timeout} s") from None
        finally:
            probe.disconnect()
            probe.loop_stop()

    def _update_existing(self, username: str, password: str, role: str, clientid: str | None = None) -> None:
        client = self.execute([{"command": "getClient", "username": username}])[0].get("data", {}).get("client", {})
        commands: list[dict[str, Any]] = [{"command": "setClientPassword", "username": username, "password": password}]
        if clientid is not None and client.get("clientid") != clientid:
            commands.append({"command": "setClientId", "username": username, "clientid": clientid})
        # Adding a role a client already has is an error in Mosquitto 2.0; ask first.
        if role not in {entry.get("rolename") for entry in client.get("roles", [])}:
            commands.append({"command": "addClientRole", "username": username, "rolename": role})
        self.execute(commands)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MosquittoDeviceAdmin:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _check_serial(serial: str) -> None:
    if not topics.is_topic_level(serial):
        raise ValueError(f"serial number {serial!r} cannot be an MQTT user confined to its own topics")
