"""The composition root of the web side: the FastAPI application with every domain's API under
/api/v1, the transports' routes, the health check and the portal. Nothing below imports it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp

from leitstand import __version__
from leitstand.granting.api import router as roles_router
from leitstand.alarms.api import router as alarms_router
from leitstand.alarms.evaluation import alarm_subscriber
from leitstand.audit.api import router as audit_router
from leitstand.dataexport.api import router as exports_router
from leitstand.heating.api import router as heating_router
from leitstand.maintenance.api import router as maintenance_router
from leitstand.notifications.api import router as notifications_router
from leitstand.permissions import Permission
from leitstand.support.api import router as support_router
from leitstand.auth.secrets import SecretBox
from leitstand.config import Settings
from leitstand.db.models import make_session_factory
from leitstand.commands.api import router as commands_router
from leitstand.commands.ingest import record_answer
from leitstand.commands.router import CommandRouter
from leitstand.devices.models import DEVICES_BLOCK_TENANT_DELETE
from leitstand.fleet.api import router as devices_router
from leitstand.commands.confirmation import confirmation_subscriber
from leitstand.fleet.claim_api import router as onboarding_router
from leitstand.heating.sending import heating_subscriber
from leitstand.fleet.connections_api import router as connections_router
from leitstand.devicetypes.api import router as device_types_router
from leitstand.licenses.api import router as licenses_router
from leitstand.ingest.pipeline import Ingestor
from leitstand.ingest.ports import IngestPorts
from leitstand.licenses.ingest import LicenseGate
from leitstand.sites.api import router as sites_router
from leitstand.sites.models import SITES_BLOCK_TENANT_DELETE
from leitstand.state.api import router as state_router
from leitstand.state.ingest import count_rejections, write_live_state
from leitstand.state.live import LiveHub
from leitstand.telemetry.api import router as telemetry_router
from leitstand.telemetry.ingest import PointWriter
from leitstand.tenancy.api import router as tenants_router
from leitstand.tenancy.deletion import TenantDeleteBlocker
from leitstand.tenancy.scope import system_session
from leitstand.transports.registry import api_routers as transport_routers
from leitstand.users.api import router as users_router
from leitstand.users.login_api import router as auth_router
from leitstand.users.me_api import router as me_router
from leitstand.accounts.models import USERS_BLOCK_TENANT_DELETE
from leitstand.web.apidocs import install_api_docs
from leitstand.web.deps import TOKEN_SCOPE_FOR, AccountArea, route_account_area, route_permission, session_cookie_name
from leitstand.portal.routes import PortalErrorPages, install_portal
from leitstand.web.errors import STANDARD_RESPONSES, ProblemDetail, install_error_handlers
from leitstand.web.methods import MethodGate, Resources
from leitstand.web.security_headers import SecurityHeaders

log = logging.getLogger(__name__)

# Every domain's routes, in the order they appear in the API documentation.
API_ROUTERS: tuple[APIRouter, ...] = (
    auth_router,
    me_router,
    tenants_router,
    users_router,
    roles_router,
    sites_router,
    device_types_router,
    devices_router,
    connections_router,
    onboarding_router,
    licenses_router,
    commands_router,
    state_router,
    telemetry_router,
    audit_router,
    alarms_router,
    notifications_router,
    maintenance_router,
    heating_router,
    support_router,
    exports_router,
    # Authenticated by device credentials, not by users: see leitstand.transports.http.api.
    *transport_routers(),
)

# What keeps a tenant from being deleted, in the order a refused delete names it (after its own
# child tenants, which the tenant routes check first). Tenancy cannot look at these floors above it.
TENANT_DELETE_BLOCKERS: tuple[TenantDeleteBlocker, ...] = (
    USERS_BLOCK_TENANT_DELETE,
    SITES_BLOCK_TENANT_DELETE,
    DEVICES_BLOCK_TENANT_DELETE,
)

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class ApiOperation:
    """One method on one path of the JSON API, with the permission it requires."""

    method: str
    path: str
    route: APIRoute

    @property
    def permission(self) -> Permission | None:
        for dependency in self.route.dependant.dependencies:
            if (permission := route_permission(dependency.call)) is not None:
                return permission
        return None

    @property
    def account_area(self) -> tuple[AccountArea, bool] | None:
        """For a route of the caller's own account: its area and whether it needs a fresh login."""
        for dependency in self.route.dependant.dependencies:
            if (declared := route_account_area(dependency.call)) is not None:
                return declared
        return None


def api_operations() -> Iterator[ApiOperation]:
    for router in API_ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                for method in sorted(route.methods):
                    yield ApiOperation(method, API_PREFIX + route.path, route)


class LeitstandApp(FastAPI):
    """The application, with the security headers outermost of all middleware."""

    def build_middleware_stack(self) -> ASGIApp:
        # Outside Starlette's ServerErrorMiddleware, which answers unexpected errors itself:
        # added as a user middleware, a 500 would leave without the headers.
        return SecurityHeaders(super().build_middleware_stack(), settings=lambda: self.state.settings)


def ingest_ports(*, defer_rollups: bool = False) -> IngestPorts:
    """What the ingest pipeline stores through and asks, from the domains that own it.
    defer_rollups: PostgreSQL queues the rollups of new points for the drainer (leitstand.telemetry.store)."""
    return IngestPorts(points=PointWriter(defer_rollups), states=write_live_state, answer_command=record_answer,
                       count_rejections=count_rejections, licenses=LicenseGate())


def ingestor_for(factory: sessionmaker[Session], *, defer_rollups: bool = False, **options: Any) -> Ingestor:
    """An ingest pipeline on the domains' ports with the subscribers of every process: the alarm
    rules evaluate each committed batch, and what they raise goes out with the pipeline's live
    updates. options: those of Ingestor (its live listeners)."""
    ingestor = Ingestor(factory, ingest_ports(defer_rollups=defer_rollups), **options)
    ingestor.subscribers.append(alarm_subscriber(factory, ingestor.announce))
    ingestor.subscribers.append(confirmation_subscriber(factory, ingestor.announce))
    ingestor.subscribers.append(heating_subscriber(factory))
    return ingestor


def create_app(settings: Settings, engine: Engine, session_factory: sessionmaker[Session] | None = None) -> FastAPI:
    """The application on the process's engine. It starts no threads of its own: the
    process's components (leitstand.runtime.STARTUP) start the notifier and the transports.

    session_factory: the process's, whose listeners (alarm changes, device credentials) the
    components subscribed to; by default one of the app's own."""
    app = LeitstandApp(
        title="Leitstand API",
        version=__version__,
        description=(
            "Devices, sites, tenants and the business around them. Errors are application/problem+json; "
            "their `title` and `detail` are in the user's language setting, else in the `Accept-Language` "
            "asked for (de, en), else in English, as `Content-Language` says. Their `type` does not change "
            "with the language; the `msg` of a schema error's `errors` is always English."
        ),
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # served from our own files: leitstand.web.apidocs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory or make_session_factory(engine)
    app.state.secret_box = SecretBox(settings.resolved_secret_key())
    app.state.live_hub = LiveHub()
    app.state.ingestor = ingestor_for(app.state.session_factory, listeners=[app.state.live_hub.publish],
                                      defer_rollups=settings.telemetry_rollups == "deferred")
    app.state.notifier = None  # the process's notifier (leitstand.runtime), once started
    app.state.tenant_delete_blockers = TENANT_DELETE_BLOCKERS  # asked by leitstand.tenancy.api
    # The process's transports attach themselves (leitstand.runtime); with none, commands expire unsent.
    app.state.commands = CommandRouter()
    install_error_handlers(app, PortalErrorPages())

    api = APIRouter(prefix=API_PREFIX, responses=STANDARD_RESPONSES)
    for router in API_ROUTERS:
        api.include_router(router)
    app.include_router(api)

    @app.get("/healthz", tags=["health"])
    def healthz(request: Request) -> JSONResponse:
        """Liveness and database reachability, for load balancers and probes."""
        try:
            with system_session(request.app.state.session_factory, reason="health check") as db:
                db.execute(text("SELECT 1"))
        except Exception as error:  # the point is to report, not to raise
            log.warning("health check: database unreachable: %s", error)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__, "database": "ok"})

    install_portal(app)
    install_api_docs(app)
    _register_problem_schema(app)
    app.add_middleware(MethodGate, resources=api_resources())
    return app


def api_resources() -> Resources:
    """Every API path template with all the methods it answers (for OPTIONS and 405)."""
    methods: dict[str, set[str]] = {}
    for operation in api_operations():
        methods.setdefault(operation.path, set()).add(operation.method)
    return Resources(methods)


def _document_account_route(documented: dict, area: AccountArea, fresh: bool) -> None:  # type: ignore[type-arg]
    """Say on a /me route what an API token may do there and whether it needs a re-authentication."""
    scope = TOKEN_SCOPE_FOR[area]
    documented["x-api-token-scope"] = scope  # null: refused to every API token
    documented["x-reauthentication"] = fresh
    notes = [f"API tokens: only with the `{scope}` scope." if scope else "API tokens: refused (403), whatever their scopes."]
    if fresh:
        notes.append("Needs a login or `POST /api/v1/me/reauthenticate` within the last `reauthentication_minutes` "
                     "(403 `reauthentication-required` otherwise).")
    documented["description"] = "\n\n".join(filter(None, [documented.get("description", ""), *notes]))


def _register_problem_schema(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict:  # type: ignore[type-arg]
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["ProblemDetail"] = ProblemDetail.model_json_schema()
        schema["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "API token (lst_…)"},
            "session": {"type": "apiKey", "in": "cookie", "name": session_cookie_name(app.state.settings)},
            "device": {"type": "http", "scheme": "bearer", "description": "Device credential: <serial>:<secret> (HTTP ingest)"},
            "webhook": {"type": "apiKey", "in": "header", "name": "X-Leitstand-Webhook-Secret",
                        "description": "A network-server connection's webhook secret (LoRaWAN webhooks)"},
        }
        schema["security"] = [{"bearer": []}, {"session": []}]
        for operation in api_operations():
            permission = operation.permission
            documented = schema["paths"].get(operation.path, {}).get(operation.method.lower())
            if documented is not None:
                documented["x-required-permission"] = permission.value if permission else None
                if operation.account_area is not None:
                    _document_account_route(documented, *operation.account_area)
                for parameter in documented.get("parameters", []):
                    _never_null(parameter)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _never_null(parameter: dict) -> None:  # type: ignore[type-arg]
    """A query string can leave a parameter out but cannot send null. FastAPI documents an optional
    parameter as `anyOf: [its type, null]` all the same, which hides its type from clients."""
    schema = parameter["schema"]
    options = [option for option in schema.get("anyOf", []) if option != {"type": "null"}]
    if parameter["in"] == "query" and len(options) == 1 < len(schema["anyOf"]):
        rest = {key: value for key, value in schema.items() if key != "anyOf" and not (key == "default" and value is None)}
        parameter["schema"] = {**options[0], **rest}
