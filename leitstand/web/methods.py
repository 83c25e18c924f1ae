"""Which methods an API path answers: OPTIONS, and 405 with the path's real `Allow` header.

Routing alone gets both wrong. FastAPI registers one route per method, and Starlette answers a
method it has no route for with the methods of the first route whose path matched, so
`OPTIONS /sites` said `Allow: GET` although POST exists. And a literal path falls to a template
declared with the method asked for: `PATCH /devices/claim` reached `/devices/{device_id}` and
answered 422 for the id "claim" instead of 405.

Here every path template of the API is known with all its methods. A request is matched to
the most specific template (a literal segment beats a parameter, left to right), the resource
it names. A method that resource lacks gets 405 with `Allow` listing exactly what it supports;
OPTIONS gets 204 with the same header. Everything else goes on to routing untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from leitstand.web.errors import Message, problem_response, reader_language

_PARAMETER = re.compile(r"^\{[^}]+\}$")


@dataclass(frozen=True)
class Resource:
    """One path template and the methods it answers."""

    template: str
    methods: frozenset[str]
    pattern: re.Pattern[str]
    # Per segment 0 for a literal and 1 for a parameter: the lower, the more specific.
    specificity: tuple[int, ...]

    @classmethod
    def of(cls, template: str, methods: Iterable[str]) -> Resource:
        segments = template.strip("/").split("/")
        parts = ["[^/]+" if _PARAMETER.match(segment) else re.escape(segment) for segment in segments]
        return cls(template, frozenset(method.upper() for method in methods) | {"OPTIONS"},
                   re.compile("/" + "/".join(parts)), tuple(1 if _PARAMETER.match(s) else 0 for s in segments))

    @property
    def allow(self) -> str:
        return ", ".join(sorted(self.methods))


class Resources:
    """The API's path templates, looked up by request path."""

    def __init__(self, methods_by_template: Mapping[str, Iterable[str]]) -> None:
        by_depth: dict[int, list[Resource]] = {}
        for template, methods in methods_by_template.items():
            resource = Resource.of(template, methods)
            by_depth.setdefault(len(resource.specificity), []).append(resource)
        self._by_depth = {depth: sorted(group, key=lambda r: r.specificity) for depth, group in by_depth.items()}

    def find(self, path: str) -> Resource | None:
        """The most specific resource whose template matches `path`, if any."""
        for resource in self._by_depth.get(path.strip("/").count("/") + 1, ()):
            if resource.pattern.fullmatch(path):
                return resource
        return None


class MethodGate:
    """ASGI middleware answering OPTIONS and unsupported methods for the given resources."""

    def __init__(self, app: ASGIApp, resources: Resources) -> None:
        self.app, self.resources = app, resources

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"].removeprefix(scope.get("root_path", ""))
            resource = self.resources.find(path)
            method = scope["method"]
            if resource is not None and method == "OPTIONS":
                # No CORS is configured, so this is a plain "what may I do here", not a preflight.
                return await Response(status_code=204, headers={"Allow": resource.allow})(scope, receive, send)
            if resource is not None and method not in resource.methods:
                response = problem_response(405, "method-not-allowed", "Method not allowed",
                                            Message("%(path)s answers %(methods)s.", path=path, methods=resource.allow),
                                            headers={"Allow": resource.allow}, language=reader_language(Request(scope)))
                return await response(scope, receive, send)
        await self.app(scope, receive, send)
