"""``create_app``: the FastAPI application of one site, assembled from its routers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter, FastAPI

from watchkeeper.api.accounts import Accounts, InitialCredential
from watchkeeper.api.errors import install_error_handlers
from watchkeeper.api.metrics import EngineGate, Metrics
from watchkeeper.api.middleware import BodySizeLimitMiddleware, ObservabilityMiddleware
from watchkeeper.api.ratelimit import TokenBuckets
from watchkeeper.api.routers import (
    apikeys,
    auth,
    cameras,
    compreface,
    compreface_recognition,
    console,
    console_cameras,
    console_forms,
    console_governed,
    detect,
    health,
    metrics,
    oversight,
    recognition,
    review,
    users,
    video,
    watchlists,
)
from watchkeeper.api.security import api_routes, declared_access
from watchkeeper.api.state import Announce, Services, lifespan
from watchkeeper.config.settings import Settings
from watchkeeper.service.cameras import CameraHost, NoCameraHost
from watchkeeper.service.engine import Engine

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Accountable face recognition. Every route except /healthz needs a bearer token "
    "(POST /api/auth/login) or, under /api/v1, an x-api-key header; each route's OpenAPI entry "
    "names the permission it needs."
)


def log_initial_credential(credential: InitialCredential) -> None:
    """Default announcement of the first administrator's password (the CLI prints it instead)."""
    log.warning(
        "first start: sign in as %r with the one-time password %s and keep it safe",
        credential.username,
        credential.password,
    )


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    accounts: Accounts | None = None,
    announce: Announce = log_initial_credential,
    login_clock: Callable[[], float] | None = None,
    home_use: bool = False,
    camera_host: CameraHost | None = None,
) -> FastAPI:
    """The service for ``settings.home``; models and stores open in the lifespan, not here.

    ``camera_host`` runs the site's cameras (``watchkeeper serve`` passes the runtime's supervisor);
    without one, cameras can be managed but do not run.
    """
    metrics_ = Metrics()
    engine = engine or Engine(settings)
    limiter_args = {"clock": login_clock} if login_clock is not None else {}
    services = Services(
        settings=settings,
        engine=engine,
        accounts=accounts or Accounts(engine, home_use=home_use),
        metrics=metrics_,
        gate=EngineGate(metrics_),
        login_limiter=TokenBuckets(
            settings.api.login_burst, settings.api.login_refill_s, **limiter_args
        ),
        announce=announce,
        cameras=camera_host or NoCameraHost(),
    )
    app = FastAPI(
        title="Watchkeeper",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    routers = (
        health,
        metrics,
        auth,
        detect,
        recognition,
        watchlists,
        review,
        oversight,
        users,
        video,
        cameras,
    )
    for module in (
        *routers,
        apikeys,
        compreface,
        compreface_recognition,
        console_governed,
        console_cameras,
        console_forms,
        console,
    ):
        _document_access(module.router)
        app.include_router(module.router)
    console.mount_static(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.api.max_body_bytes)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics_)
    return app


def _document_access(router: APIRouter) -> None:
    """Name each route's access rule in its OpenAPI entry (before the router is included)."""
    for route in api_routes(router.routes):
        rules = "; ".join(access.describe() for access in declared_access(route))
        route.openapi_extra = {**(route.openapi_extra or {}), "x-access": rules or "none"}
