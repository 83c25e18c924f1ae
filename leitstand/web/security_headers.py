"""The security headers of every answer, set in one place (OWASP ASVS 4.0, V14.4).

Every response gets `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, a
`Referrer-Policy` and a `Content-Security-Policy` with `frame-ancestors 'none'`; behind an
https public URL also `Strict-Transport-Security`.

The policy depends on what the browser does with the answer:
- Documents and scripts (HTML, JavaScript; the service worker is one): the portal's policy.
  Scripts come only from our own bundles, never inline; styles only from our stylesheet
  (libraries that position elements do so through the CSSOM, which CSP does not restrict);
  images from us, the configured map tile host and data: URLs (see `portal_policy`).
- Everything else (JSON and problem documents, CSS, images, downloads): `default-src 'none'`,
  so nothing opened directly from the API can load or run anything.

A header the response set itself wins: the pages with a token in their URL say
`Referrer-Policy: no-referrer` (leitstand.portal.password).

The middleware sits outside Starlette's ServerErrorMiddleware (see `leitstand.app`), so an
unexpected error's 500 carries the headers too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leitstand.config import Settings

log = logging.getLogger(__name__)
HSTS = "max-age=31536000; includeSubDomains"
DEFAULT_REFERRER_POLICY = "strict-origin-when-cross-origin"
# For answers that are data, not documents: they may load nothing, and nobody may frame them.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
# Media types a browser runs with the policy of their own response: pages and workers.
_DOCUMENT_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/javascript", "application/javascript"})
# A host (with a leading wildcard label) and port as a CSP source may name them: nothing that
# could end the directive or start another.
_SOURCE_HOST = re.compile(r"(\*\.)?[A-Za-z0-9.-]+(:[0-9]+)?")


def tile_source(tile_url: str) -> str | None:
    """The CSP source that admits the map tiles of a Leaflet URL template; None if 'self' does.

    `https://{s}.tile.example.org/{z}/{x}/{y}.png` gives `https://*.tile.example.org`; a
    placeholder further right in the host cannot be written as a CSP host, so its scheme is allowed.
    """
    if tile_url.startswith("data:"):
        return "data:"
    parts = urlsplit(tile_url)
    if not parts.scheme or not parts.netloc:
        return None  # a path on our own server
    labels = parts.netloc.rsplit("@", 1)[-1].split(".")
    if "{" in labels[0]:
        labels[0] = "*"
    host = ".".join(labels)
    if "{" in host:
        return f"{parts.scheme}:"
    if parts.scheme not in ("http", "https") or not _SOURCE_HOST.fullmatch(host):
        log.warning("map tiles from %r cannot be allowed by the Content-Security-Policy; the map stays blank", tile_url)
        return None
    return f"{parts.scheme}://{host}"


def portal_policy(tile_url: str) -> str:
    # data: images because Leaflet cancels a tile still loading by pointing it at a data: GIF
    # (L.Util.emptyImageUrl, on every zoom and pan); an image runs no script.
    images = " ".join(dict.fromkeys(filter(None, ["'self'", "data:", tile_source(tile_url)])))
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": images,
        # The page's own fetches, HTMX and the live stream. Push services are reached by the
        # browser itself, not by page scripts, so they need no entry.
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class HeaderSet:
    """The headers for the answers of one configuration."""

    def __init__(self, public_url: str, tile_url: str) -> None:
        common = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": DEFAULT_REFERRER_POLICY}
        if public_url.startswith("https://"):
            common["Strict-Transport-Security"] = HSTS
        self.document = {**common, "Content-Security-Policy": portal_policy(tile_url)}
        self.data = {**common, "Content-Security-Policy": DATA_POLICY}

    def for_media_type(self, content_type: str) -> dict[str, str]:
        media_type = content_type.split(";", 1)[0].strip().lower()
        return self.document if media_type in _DOCUMENT_TYPES else self.data


@lru_cache(maxsize=8)
def header_set(public_url: str, tile_url: str) -> HeaderSet:
    return HeaderSet(public_url, tile_url)


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response start.

    The settings are read per request (`settings()`), so a changed tile URL takes effect at once.
    """

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings]) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        current = self.settings()
        headers_of = header_set(current.public_url, current.portal_tile_url)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message.get("headers", ())))
                for name, value in headers_of.for_media_type(headers.get("content-type", "")).items():
                    if name not in headers:
                        headers.append(name, value)
                message["headers"] = headers.raw
            await send(message)

        await self.app(scope, receive, send_with_headers)
