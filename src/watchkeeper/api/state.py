"""What a running service holds, and its ordered start-up and shutdown."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import FastAPI, Request

from watchkeeper.api.accounts import Accounts, InitialCredential
from watchkeeper.api.metrics import EngineGate, Metrics
from watchkeeper.api.ratelimit import TokenBuckets
from watchkeeper.config.settings import Settings
from watchkeeper.core.errors import StoreError, WatchkeeperError
from watchkeeper.service.cameras import CameraHost, Cameras, NoCameraHost
from watchkeeper.service.engine import Engine

log = logging.getLogger(__name__)

Announce = Callable[[InitialCredential], None]
T = TypeVar("T")
P = TypeVar("P")


@dataclass
class Services:
    """The runtime objects behind every route (created by ``create_app``, started by lifespan)."""

    settings: Settings
    engine: Engine
    accounts: Accounts
    metrics: Metrics
    gate: EngineGate
    login_limiter: TokenBuckets
    announce: Announce
    cameras: CameraHost = field(default_factory=NoCameraHost)
    ready: bool = False
    started_monotonic_s: float = field(default_factory=time.monotonic)

    def startup(self) -> None:
        """Open the store, create the first admin if needed, then load the models.

        Models and the gallery load here rather than on the first request, so a missing model
        file stops the service at start with a clear error instead of failing a user's request.
        """
        self.accounts.open()
        credential = self.accounts.bootstrap_admin()
        if credential is not None:
            self.announce(credential)
        self.start_cameras()
        # Every analyzer is built and loaded now, so the first concurrent requests do not
        # each pay for loading models (and a missing model file stops the start).
        pool = self.engine.analyzers
        pool.fill()
        self.metrics.analysis_queue.set_function(lambda: pool.waiting)
        # Read at each scrape from whichever host runs the cameras now.
        self.metrics.cameras.watch(lambda: self.cameras.statuses())
        self.started_monotonic_s = time.monotonic()
        self.ready = True
        log.info("service ready", extra={"home": str(self.settings.home)})

    def shutdown(self) -> None:
        """Stop answering, then close the engine and the user store, in reverse start order."""
        self.ready = False
        # Cameras first: their workers close live tracks into sightings on the way out.
        self.cameras.stop_all()
        self.accounts.close()
        self.engine.close()
        log.info("service stopped")

    def start_cameras(self) -> None:
        """Start every enabled camera; one that may not run shows why and the rest go on."""
        try:
            plans = Cameras(self.engine).plans()
        except WatchkeeperError:
            # Cameras are not worth refusing to serve for; the Cameras page shows them stopped.
            log.exception("could not read the cameras to start; none started")
            return
        for plan in plans:
            plan.apply(self.cameras)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    services: Services = app.state.services
    services.startup()
    try:
        yield
    finally:
        services.shutdown()


def services_of(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if not isinstance(services, Services):
        raise StoreError("the service is not initialised")
    return services


def engine_call(request: Request, operation: str, fn: Callable[[], T]) -> T:
    """Run one engine use-case through the service's gate (one at a time, timed, queued).

    The engine shares one SQLite connection between its use-cases; running them one at a time
    means no use-case reads another's uncommitted rows, and the models (not documented as
    thread-safe) see one caller at a time.
    """
    services = services_of(request)
    return services.gate.run(operation, fn)


def engine_call_staged(
    request: Request, operation: str, prepare: Callable[[], P], governed: Callable[[P], T]
) -> T:
    """Run a use-case in two stages: ``prepare`` (photo analysis, touching no store) beside
    other requests, then ``governed`` with its result through the gate, one at a time.

    >>> engine_call_staged(  # doctest: +SKIP
    ...     request, "identify", lambda: engine.analyse_probe(frame),
    ...     lambda probe: engine.identify(me, probe, "staff", "door access"))
    """
    services = services_of(request)
    prepared = services.gate.outside(f"{operation}_analysis", prepare)
    return services.gate.run(operation, lambda: governed(prepared))
