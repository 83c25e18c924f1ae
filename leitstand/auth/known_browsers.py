"""Browsers a user has logged in with, so that a login from a new one is mailed (ASVS 2.2.3).

A completed login leaves a long-lived, random browser cookie; its hash is a `KnownBrowser`
of that user. A later login carrying it is a known browser. One without it, or with one the
account never saw, is new: the owner is mailed, unless the account has no known browser yet
(its first login, or its first since this was built), where there is nothing to compare with.
A cookie, not the address or the browser's name, tells browsers apart: addresses change with
every network and browser names with every update, and both would make the mail noise.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from leitstand.auth.models import KnownBrowser
from leitstand.auth.secrets import new_token, token_digest
from leitstand.clock import clock
from leitstand.config import Settings

BROWSER_COOKIE = "leitstand_browser"
SECURE_BROWSER_COOKIE = "__Host-leitstand_browser"  # behind https: see SECURE_SESSION_COOKIE
REMEMBERED_FOR = timedelta(days=400)  # the longest a browser keeps a cookie


def browser_cookie_name(settings: Settings) -> str:
    return SECURE_BROWSER_COOKIE if settings.secure_cookies else BROWSER_COOKIE


def note_browser(db: Session, settings: Settings, user_id: int, request: Request, response: Response) -> bool:
    """Called when a login completes, before db commits: know the browser from now on. True if it is
    new to an account that knew other browsers: then the owner is to be told."""
    presented = request.cookies.get(browser_cookie_name(settings)) or ""
    token = presented or new_token()
    user_agent = request.headers.get("user-agent", "")[:300]
    now = clock.now()
    known = db.scalar(select(KnownBrowser).where(KnownBrowser.user_id == user_id,
                                                 KnownBrowser.token_hash == token_digest(token))) if presented else None
    response.set_cookie(browser_cookie_name(settings), token, max_age=int(REMEMBERED_FOR.total_seconds()),
                        httponly=True, secure=settings.secure_cookies, samesite="lax", path="/")
    if known is not None:
        known.last_seen_at, known.user_agent = now, user_agent
        return False
    others = db.scalar(select(exists().where(KnownBrowser.user_id == user_id)))
    db.add(KnownBrowser(user_id=user_id, token_hash=token_digest(token), user_agent=user_agent, last_seen_at=now))
    return bool(others)
