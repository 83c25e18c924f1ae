"""Helpers for browser tests of the portal: log in through the login page, save screenshots.

Both are also fixtures (`login`, `shot`) in tests/portal/conftest.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect

from tests.helpers.world import PASSWORD

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def totp_code(secret_or_code: str) -> str:
    """A six-digit code as given, or the current code of a TOTP secret."""
    return secret_or_code if re.fullmatch(r"\d{6}", secret_or_code) else pyotp.TOTP(secret_or_code).now()


def login(page: Page, email: str, password: str = PASSWORD, totp: str | None = None, next_url: str = "/") -> None:
    """Sign in through /login like a person would; `totp` is a TOTP secret (or a code) for the second step.

    Returns once the browser has left the login page.
    """
    page.goto("/login" + (f"?next={next_url}" if next_url != "/" else ""))
    page.get_by_label(re.compile("e-mail", re.I)).fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("#password-step button[type=submit]").click()
    if totp is not None:
        code = page.locator("#totp-form input[name=code]")
        expect(code).to_be_visible()
        code.fill(totp_code(totp))
        page.locator("#totp-form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


def shot(page: Page, name: str, full_page: bool = True) -> Path:
    """Save a screenshot to test-output/screenshots/<name>.png (a required artifact of the portal tests)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path
