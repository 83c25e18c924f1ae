"""The client's address, as throttling, sessions and the audit log see it: X-Forwarded-For
is believed only from trusted proxies, and only up to the first hop that is not one."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from leitstand.config import Settings
from leitstand.web.deps import client_ip


def request_from(peer: str, *forwarded_for: str, trusted: str = "") -> Request:
    app = SimpleNamespace(state=SimpleNamespace(settings=Settings(trusted_proxies=trusted)))
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded_for]
    return Request({"type": "http", "client": (peer, 50000), "headers": headers, "app": app})


@pytest.mark.parametrize(("peer", "forwarded_for", "trusted", "client"), [
    ("203.0.113.5", ["198.51.100.7"], "", "203.0.113.5"),
    ("203.0.113.5", ["198.51.100.7"], "10.0.0.0/8", "203.0.113.5"),
    ("10.0.0.2", [], "10.0.0.0/8", "10.0.0.2"),
    ("10.0.0.2", ["198.51.100.7"], "10.0.0.0/8", "198.51.100.7"),
    ("10.0.0.2", ["198.51.100.7, 203.0.113.5"], "10.0.0.0/8", "203.0.113.5"),
    ("10.0.0.2", ["203.0.113.5, 10.0.0.9"], "10.0.0.0/8", "203.0.113.5"),
    ("10.0.0.2", ["203.0.113.5", "10.0.0.9"], "10.0.0.0/8", "203.0.113.5"),
    ("10.0.0.2", ["10.0.0.8, 10.0.0.9"], "10.0.0.0/8", "10.0.0.8"),
    ("10.0.0.2", ["203.0.113.5, not-an-address"], "10.0.0.0/8", "10.0.0.2"),
    ("10.0.0.2", ["203.0.113.5:4711"], "10.0.0.0/8", "203.0.113.5"),
    ("10.0.0.2", ["[2001:db8::7]:4711"], "10.0.0.0/8", "2001:db8::7"),
    ("::ffff:10.0.0.2", ["198.51.100.7"], "10.0.0.0/8", "198.51.100.7"),
    ("2001:db8:1::2", ["198.51.100.7"], "10.0.0.0/8, 2001:db8:1::/48", "198.51.100.7"),
    ("192.0.2.1", ["198.51.100.7"], "192.0.2.1", "198.51.100.7"),
    ("testclient", ["198.51.100.7"], "10.0.0.0/8", "testclient"),
], ids=[
    "nothing trusted", "untrusted peer", "trusted peer without header", "one proxy", "forged entry left of the proxy's",
    "two proxies", "two headers", "all hops trusted: the first", "garbage stops the walk", "v4 with port",
    "v6 in brackets", "v4-mapped peer", "v6 proxy network", "single proxy address", "peer without address",
])
def test_the_client_address(peer, forwarded_for, trusted, client):
    assert client_ip(request_from(peer, *forwarded_for, trusted=trusted)) == client


def test_a_trusted_proxy_network_with_host_bits_is_refused_at_start():
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies="10.0.0.1/8")


def test_trusted_proxies_come_comma_separated_from_the_environment(monkeypatch):
    monkeypatch.setenv("LEITSTAND_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")

    assert [str(network) for network in Settings().trusted_proxies] == ["10.0.0.0/8", "192.0.2.7/32"]
