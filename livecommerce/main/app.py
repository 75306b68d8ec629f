"""The composition root: the one place where the app is assembled from its parts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from livecommerce import __version__
from livecommerce.accounts import service as accounts_service
from livecommerce.accounts.endpoints import router as accounts_router
from livecommerce.accounts.principals import TokenPrincipals
from livecommerce.assistance.endpoints import router as assistance_router
from livecommerce.assistance.service import Units
from livecommerce.audit.endpoints import router as audit_router
from livecommerce.broadcasts import stock_events
from livecommerce.catalog import stock
from livecommerce.catalog.endpoints import router as catalog_router
from livecommerce.catalog.import_endpoints import IMPORT_PATHS
from livecommerce.catalog.import_endpoints import router as imports_router
from livecommerce.kit import signals
from livecommerce.kit.clock import Clock
from livecommerce.kit.components import Component
from livecommerce.kit.db import Database, create_database
from livecommerce.kit.errors import UnhandledErrorMiddleware, install_error_handlers
from livecommerce.kit.metrics import REGISTRY
from livecommerce.kit.notices import LocalNotices, Notices, RedisNotices
from livecommerce.kit.observability import ObservabilityMiddleware
from livecommerce.kit.ratelimit import RateLimiter
from livecommerce.kit.security import BodySizeLimitMiddleware, SecurityHeadersMiddleware
from livecommerce.kit.settings import DEFAULT_SECRET_KEY, Settings
from livecommerce.kit.signals import stream_starting
from livecommerce.kit.types import TIME_RULE
from livecommerce.ledger.endpoints import router as ledger_router
from livecommerce.main.feeds import build_availability_feed
from livecommerce.main.migrate import upgrade
from livecommerce.main.registry import load_models
from livecommerce.orders.availability import Availability
from livecommerce.orders.bulk_endpoints import router as bulk_orders_router
from livecommerce.orders.endpoints import router as orders_router
from livecommerce.orders.fast_path import OrderFastRoute
from livecommerce.orders.fulfillment_endpoints import router as fulfillment_router
from livecommerce.review.endpoints import router as review_router
from schedulers import bookings
from schedulers.endpoints import router as schedulers_router
from schedulers.runtime import build_scheduler
from streams.chat.endpoints import router as chat_router
from streams.endpoints import router as streams_router
from streams.media.endpoints import router as media_router
from streams.relay.namespace import redis_namespace
from streams.runtime import build_relay
from streams.ws import router as ws_router
from web.manage.routes import router as manage_router
from web.manage_sales import router as manage_sales_router
from web.routes import router as web_router
from web.statements import router as statements_router

log = structlog.get_logger(__name__)

ComponentFactory = Callable[[FastAPI], Component | None]


def _component_factories() -> list[ComponentFactory]:
    return [build_relay, build_scheduler, build_availability_feed]


def _routers() -> list[Any]:
    return [
        accounts_router,
        imports_router,
        catalog_router,
        orders_router,
        bulk_orders_router,
        fulfillment_router,
        assistance_router,
        ledger_router,
        review_router,
        streams_router,
        chat_router,
        media_router,
        ws_router,
        schedulers_router,
        audit_router,
        statements_router,
        web_router,
        manage_sales_router,
        manage_router,
    ]


STOP_TIMEOUT_SECONDS = 15.0


async def _bounded(stopping: Awaitable[None], name: str) -> None:
    """Await one part's stop, at most STOP_TIMEOUT_SECONDS; a failure or a timeout is logged, never raised."""
    try:
        async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
            await stopping
    except TimeoutError:
        log.error("component_stop_timed_out", component=name, seconds=STOP_TIMEOUT_SECONDS)
    except Exception:
        log.exception("component_stop_failed", component=name)


def wire_database(db: Database) -> None:
    """Connect what the domains announce to the domains above that react (same for app and worker)."""
    signals.stock_changed.connect(stock_events.on_stock_changed)
    db.before_commit(stock.announce)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool | None = None) -> FastAPI:
    """Build an app instance.

    `migrate` applies pending migrations at start-up; by default only in the embedded
    (SQLite) mode, since at scale a separate `livecommerce migrate` step owns the schema.
    """
    settings = settings or Settings()
    if settings.env == "prod" and settings.secret_key == DEFAULT_SECRET_KEY:
        raise RuntimeError("LIVECOMMERCE_SECRET_KEY must be set outside the dev (embedded) mode")
    load_models()
    # The go-live guard asks the scheduler whether a hand-started stream's booking is confirmed.
    stream_starting.connect(bookings.guard_stream_start)
    apply_migrations = settings.is_sqlite if migrate is None else migrate

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if apply_migrations:
            await asyncio.to_thread(upgrade, settings.database_url)
        db = create_database(settings)
        wire_database(db)
        db.on_commit(app.state.principals.after_commit)
        app.state.db = db
        if settings.redis_url:
            # Notices and rate-limit counters live under the deployment's namespace, like the relay's channels.
            namespace = await redis_namespace(db, settings)
            if isinstance(app.state.notices, RedisNotices):
                app.state.notices.channel = f"{namespace}:notices"
            app.state.rate_limiter = RateLimiter(settings, key_prefix=f"{namespace}:rl")
        await app.state.notices.start()
        if settings.admin_password:
            async with db.transaction() as session:
                if await accounts_service.ensure_admin(session, settings.admin_password, app.state.clock.now()):
                    log.info("admin_created", username="admin")
        components: list[Component] = []
        app.state.components = components
        try:
            for factory in _component_factories():
                component = factory(app)
                if component is not None:
                    await component.start()
                    components.append(component)
            yield
        finally:
            # A shutdown must end: a part that cannot stop in time (a viewer that stopped reading,
            # a backend that hangs) is logged and left behind rather than holding the process.
            for component in reversed(components):
                await _bounded(component.stop(), component.name)
            await _bounded(app.state.notices.stop(), "notices")
            await _bounded(app.state.rate_limiter.close(), "rate_limiter")
            await _bounded(db.dispose(), "database")

    app = FastAPI(
        title="livecommerce",
        version=__version__,
        summary="Live-stream commerce for rural revitalization: every fen of every sale credited home.",
        description=TIME_RULE,
        lifespan=lifespan,
        docs_url=None,  # served by _add_docs_routes from vendored assets: FastAPI's default loads a CDN
        redoc_url=None,
        # Metrics are Prometheus's (/metrics); FastAPI's OpenTelemetry hooks would only ask, per request, whether they are wanted.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.clock = clock or Clock()
    app.state.rate_limiter = RateLimiter(settings)
    notices: Notices = RedisNotices(settings.redis_url, settings.redis_prefix) if settings.redis_url else LocalNotices()
    app.state.notices = notices
    app.state.principals = TokenPrincipals(settings.secret_key, notices, ttl=settings.principal_cache_seconds)
    app.state.availability = Availability(settings.availability_ttl_seconds)
    app.state.units = Units()  # the order desk names subscriptions' units through it
    install_error_handlers(app)
    # Innermost, so a bug's 500 still passes out through the security headers and the request id.
    app.add_middleware(UnhandledErrorMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        larger={path: settings.import_max_bytes for path in IMPORT_PATHS},
    )
    app.add_middleware(ObservabilityMiddleware)
    for router in _routers():
        app.include_router(router)
    if settings.order_fast_path:
        # First in the router: it takes the common stream order and hands every other request on.
        app.router.routes.insert(0, OrderFastRoute(app.state, app.router))
    _add_health_routes(app)
    _add_docs_routes(app)
    return app


VENDOR = "/static/vendor"


def _add_docs_routes(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, with every asset served by the app itself (they work offline)."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
            with_google_fonts=False,
        )


def _add_health_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics of this instance", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/readyz", tags=["health"], summary="The database (and Redis, when configured) are reachable")
    async def readyz() -> Any:
        from fastapi.responses import JSONResponse

        checks: dict[str, str] = {}
        db: Database = app.state.db
        try:
            async with asyncio.timeout(2):
                async with db.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # any failure to reach the database means not ready
            checks["database"] = f"unavailable: {type(exc).__name__}"
        for component in getattr(app.state, "components", []):
            check = getattr(component, "readiness", None)
            if check is not None:
                checks[component.name] = await check()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)
