"""Errors as `application/problem+json` (RFC 9457), handled in one place.

Domains raise their own refusals (leitstand.i18n: Refusal, NotFound, Forbidden, Conflict,
Throttled) or let a database or scope error surface; API routes raise `Problem`. The handlers
here turn every failure into a problem document, so a client never sees a bare 500 page or a
stack trace.

A problem's `title` and `detail` are English message ids (a `Message` where values go into
them), put into the reader's language only when the answer is written (see `api_language`);
their German texts are in leitstand/i18n/locale/de/LC_MESSAGES/problems.po. The `type` is
the same in every language.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from leitstand.db.stored_rows import invalid_rows, log_invalid_row
from leitstand.i18n import Conflict, Forbidden, Message, NotFound, Refusal, Throttled, api_language, in_language
from leitstand.tenancy.scope import OutOfScope

log = logging.getLogger(__name__)
PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://leitstand.dev/problems/"


class ProblemDetail(BaseModel):
    type: str = Field(description="URI naming the kind of problem.")
    title: str
    status: int
    detail: str = ""
    errors: list[dict[str, Any]] | None = None


# A problem's title or detail: a message id, or one with the values of its placeholders.
ProblemText = str | Message


class Problem(Exception):
    def __init__(self, status: int, kind: str, title: ProblemText, detail: ProblemText = "", **extra: Any) -> None:
        super().__init__(str(detail or title))
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


def not_found(what: str = "resource") -> Problem:
    """`what` is a message id too: the name of the kind of record, e.g. "device"."""
    return Problem(404, "not-found", "Not found", Message("No such %(what)s, or not visible to you.", what=Message(what)))


def forbidden(detail: ProblemText) -> Problem:
    return Problem(403, "forbidden", "Forbidden", detail)


def conflict(detail: ProblemText) -> Problem:
    return Problem(409, "conflict", "Conflict", detail)


def invalid(detail: ProblemText, **extra: Any) -> Problem:
    return Problem(422, "invalid", "Invalid request", detail, **extra)


def invalid_combination(rule: str, detail: ProblemText, *parameters: str, location: str = "query") -> Problem:
    """A 422 for parameters that are each valid but break a rule between them (`from` before
    `to`), naming every one of them the way a schema error names one, so a form can mark them all.
    `rule` is the error type, for clients telling such rules apart."""
    errors = [{"loc": [location, name], "msg": str(detail), "type": rule} for name in parameters]
    return invalid(detail, errors=errors)


def invalid_field(rule: str, detail: ProblemText, field: str, location: str = "body") -> Problem:
    """A 422 for one field that breaks a rule the schema cannot state (a password on a list of
    common ones), shaped like a schema error on that field; `rule` is the error type clients tell apart."""
    return invalid_combination(rule, detail, field, location=location)


def problem_response(
    status: int, kind: str, title: ProblemText, detail: ProblemText = "", headers: dict[str, str] | None = None,
    language: str = "en", **extra: Any,
) -> JSONResponse:
    body = {"type": PROBLEM_BASE + kind, "title": in_language(title, language), "status": status,
            "detail": in_language(detail, language), **extra}
    # The same URL answers in another language for another reader: caches must tell them apart.
    headers = {**(headers or {}), "Content-Language": language, "Vary": "Accept-Language"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def reader_language(request: Request) -> str:
    """The language a problem answer to this request is written in (see `api_language`)."""
    principal = getattr(request.state, "principal", None)
    return api_language(request, getattr(principal, "language", None))


_STATUS_KINDS = {
    400: ("bad-request", Message("Bad request")),
    401: ("unauthenticated", Message("Authentication required")),
    403: ("forbidden", Message("Forbidden")),
    404: ("not-found", Message("Not found")),
    405: ("method-not-allowed", Message("Method not allowed")),
    413: ("too-large", Message("Request too large")),
    415: ("unsupported-media-type", Message("Unsupported media type")),
    429: ("too-many-requests", Message("Too many requests")),
}


# The problem of each kind of the domains' refusals: status, kind, title. Any other Refusal is invalid (422).
_REFUSAL_PROBLEMS: tuple[tuple[type[Refusal], int, str, str], ...] = (
    (NotFound, 404, "not-found", "Not found"),
    (Forbidden, 403, "forbidden", "Forbidden"),
    (Conflict, 409, "conflict", "Conflict"),
)


def problem_of(refusal: Refusal) -> Problem:
    """The problem that answers a domain's refusal."""
    if isinstance(refusal, Throttled):
        return throttled(refusal.kind, refusal.text, refusal.retry_after_seconds)
    for kind, status, name, title in _REFUSAL_PROBLEMS:
        if isinstance(refusal, kind):
            return Problem(status, name, title, refusal.text)
    return invalid(refusal.text)


def invalid_stored_data() -> Problem:
    return Problem(500, "invalid-stored-data", "Stored data is invalid",
                   "A stored record does not match its schema. It has been logged for the operator.")


class HtmlErrorPages(Protocol):
    """Renders errors as pages for requests that are not API calls (the portal)."""

    def wants_page(self, request: Request) -> bool: ...

    def __call__(self, request: Request, status: int, title: ProblemText, detail: ProblemText) -> Response: ...


def install_error_handlers(app: FastAPI, html_pages: HtmlErrorPages | None = None) -> None:
    def respond(
        request: Request, status: int, kind: str, title: ProblemText, detail: ProblemText = "",
        headers: dict[str, str] | None = None, **extra: Any,
    ) -> Response:
        if html_pages is not None and html_pages.wants_page(request):
            return html_pages(request, status, title, detail)
        return problem_response(status, kind, title, detail, headers, reader_language(request), **extra)

    @app.exception_handler(Problem)
    async def _problem(request: Request, error: Problem) -> Response:
        return respond(request, error.status, error.kind, error.title, error.detail, error.headers, **error.extra)

    @app.exception_handler(Refusal)
    async def _refusal(request: Request, error: Refusal) -> Response:
        problem = problem_of(error)
        return respond(request, problem.status, problem.kind, problem.title, problem.detail, problem.headers, **problem.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        kind, title = _STATUS_KINDS.get(error.status_code, ("error", Message("Error")))
        detail = error.detail if isinstance(error.detail, str) else ""
        return respond(request, error.status_code, kind, title, detail, dict(error.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        errors = [
            {"loc": [str(part) for part in item.get("loc", ())], "msg": str(item.get("msg", "")), "type": str(item.get("type", ""))}
            for item in error.errors()
        ]
        return respond(request, 422, "invalid", "Invalid request", "The request does not match the schema.", errors=errors)

    @app.exception_handler(ResponseValidationError)
    async def _invalid_response(request: Request, error: ResponseValidationError) -> Response:
        # The route returned stored rows its response model refuses: name each, instead of a traceback.
        model = getattr(getattr(request.scope.get("route"), "response_model", None), "__name__", "the response model")
        by_row: dict[int, list[Any]] = {}  # a list's item index; -1 for the one row
        for item in error.errors():
            loc = list(item.get("loc", ()))[1:]  # after "response"
            index = loc.pop(0) if isinstance(error.body, list) and loc and isinstance(loc[0], int) else -1
            by_row.setdefault(index, []).append({**item, "loc": loc})
        for index, errors in by_row.items():
            log_invalid_row(error.body[index] if index >= 0 else error.body, model, errors)
        problem = invalid_stored_data()
        return respond(request, problem.status, problem.kind, problem.title, problem.detail)

    @app.exception_handler(ValidationError)
    async def _invalid_model(request: Request, error: ValidationError) -> Response:
        # A response model built inside a route refused what it was given (stored data, as above).
        log.error("%s %s: %s refused stored data: %s", request.method, request.url.path, error.title, error.errors())
        invalid_rows[error.title] += 1
        problem = invalid_stored_data()
        return respond(request, problem.status, problem.kind, problem.title, problem.detail)

    @app.exception_handler(OutOfScope)
    async def _out_of_scope(request: Request, error: OutOfScope) -> Response:
        return respond(request, 404, "not-found", "Not found", "A referenced record does not exist or is not visible to you.")

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, error: IntegrityError) -> Response:
        log.info("integrity error: %s", error.orig)
        return respond(request, 409, "conflict", "Conflict", "The change conflicts with existing data (duplicate or missing reference).")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return respond(request, 500, "internal", "Internal error", "An unexpected error occurred; it has been logged.")


def problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}


def throttled(kind: str, detail: ProblemText, retry_after_seconds: int) -> Problem:
    """A 429 that says when to try again."""
    problem = Problem(429, kind, "Slow down", detail)
    problem.headers["Retry-After"] = str(retry_after_seconds)
    return problem


def throttled_response(description: str) -> dict[str, Any]:
    """How a route that throttles documents its 429 (see `throttled`)."""
    return {
        "description": description, "content": problem_content(),
        "headers": {"Retry-After": {"description": "Seconds to wait before trying again.", "required": True,
                                    "schema": {"type": "integer", "minimum": 1}}},
    }


# Documented on every API route so clients (and schemathesis) know the error shape.
STANDARD_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": problem_content()}
    for status, description in (
        (400, "Malformed request (e.g. a body that is not UTF-8 JSON)"),
        (401, "Not authenticated"),
        (403, "Missing permission"),
        (404, "Not found or not visible"),
        (409, "Conflict"),
        (422, "Invalid request"),
        (429, "Too many attempts"),
    )
}
