"""The portal as an installable web app: manifest, service worker, offline page, asset URLs.

The service worker is served from the root (`/sw.js`) so its scope covers every page. Its
cache name carries a fingerprint of the current front-end build, so a new build installs a
new worker that drops the old cache.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from leitstand.portal.pages import PORTAL_DIR, render, templates

router = APIRouter()
BUILD_DIR = PORTAL_DIR / "static" / "build"
BUILD_URL = "/static/build/"
THEME_COLOUR = "#2563eb"
OFFLINE_PATH = "/offline"


def _build_stamp() -> float:
    # `build.mjs` writes .built last, so its time changes with every finished build.
    try:
        return (BUILD_DIR / ".built").stat().st_mtime
    except OSError:
        return 0.0


@lru_cache(maxsize=4)
def _fingerprint(stamp: float) -> str:
    digest = hashlib.sha256(str(stamp).encode())
    for path in _shell_files():
        digest.update(path.name.encode())
        digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()[:12]


def build_fingerprint() -> str:
    """Changes whenever the front end is rebuilt; "none" without a build."""
    stamp = _build_stamp()
    return _fingerprint(stamp) if stamp else "none"


def asset_url(name: str) -> str:
    """URL of a built asset with the build fingerprint, so browsers never keep a stale bundle."""
    return f"{BUILD_URL}{name}?v={build_fingerprint()}"


templates.env.globals["asset_url"] = asset_url


def _shell_files() -> list[Path]:
    """Built files every page needs: the entry bundles, their chunks and the icons."""
    if not BUILD_DIR.is_dir():
        return []
    wanted = [*BUILD_DIR.glob("*.js"), *BUILD_DIR.glob("*.css"), *BUILD_DIR.glob("chunks/*.js"), *BUILD_DIR.glob("icons/*")]
    return sorted(path for path in wanted if path.is_file())


def _precache_urls() -> list[str]:
    urls = [OFFLINE_PATH]
    for path in _shell_files():
        relative = path.relative_to(BUILD_DIR).as_posix()
        # app.js and app.css are requested with ?v=<fingerprint> by every page.
        urls.append(asset_url(relative) if path.parent == BUILD_DIR else BUILD_URL + relative)
    return urls


@router.get("/manifest.webmanifest")
def manifest(request: Request) -> Response:
    icons = BUILD_URL + "icons/"
    body = {
        "name": "Leitstand",
        "short_name": "Leitstand",
        "description": "Devices, sites and alarms at a glance.",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f4f5f7",
        "theme_color": THEME_COLOUR,
        "icons": [
            {"src": icons + "icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": icons + "icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": icons + "icon-maskable-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
            {"src": icons + "icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
        ],
    }
    return JSONResponse(body, media_type="application/manifest+json", headers={"Cache-Control": "no-cache"})


@router.get("/sw.js")
def service_worker(request: Request) -> Response:
    response = templates.TemplateResponse(
        request, "pwa/sw.js",
        {"cache_name": f"leitstand-shell-{build_fingerprint()}", "precache": _precache_urls(), "offline_path": OFFLINE_PATH},
        media_type="text/javascript",
    )
    # The browser must always see the current worker; it checks for updates on navigation.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@router.get(OFFLINE_PATH)
def offline(request: Request) -> Response:
    return render(request, "pwa/offline.html")
