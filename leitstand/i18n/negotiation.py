"""Which language a page or an API answer gets: the user's setting, the language cookie,
the browser's preference."""

from __future__ import annotations

from starlette.requests import Request

from leitstand.i18n.catalogue import DEFAULT_LANGUAGE, LANGUAGES

LANGUAGE_COOKIE = "leitstand_lang"


def negotiate(request: Request, user_language: str | None) -> str:
    """A logged-in user's own choice, then the language cookie, then the browser's preference."""
    if user_language in LANGUAGES:
        return user_language  # type: ignore[return-value]
    if (chosen := request.cookies.get(LANGUAGE_COOKIE)) in LANGUAGES:
        return chosen  # type: ignore[return-value]
    return _accepted_language(request) or DEFAULT_LANGUAGE


def api_language(request: Request, user_language: str | None) -> str:
    """The language of the JSON API's texts: the user's setting, then the portal's language
    cookie (so the login page's errors match the page), then Accept-Language, then English.
    Not German as on pages: a machine client that states no preference reads English."""
    if user_language in LANGUAGES:
        return user_language  # type: ignore[return-value]
    if (chosen := request.cookies.get(LANGUAGE_COOKIE)) in LANGUAGES:
        return chosen  # type: ignore[return-value]
    return _accepted_language(request) or "en"


def _accepted_language(request: Request) -> str | None:
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return None
