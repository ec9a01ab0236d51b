"""Liveness and readiness: the one JSON route that needs no credentials."""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from watchkeeper.api.schemas import Health
from watchkeeper.api.security import public
from watchkeeper.api.state import services_of

router = APIRouter(tags=["operations"])


def _version() -> str:
    try:
        return version("watchkeeper")
    except PackageNotFoundError:
        return "unknown"


@router.get(
    "/healthz",
    response_model=Health,
    dependencies=[public("load balancers and process supervisors probe it")],
    responses={503: {"model": Health, "description": "Starting up or shutting down."}},
)
def healthz(request: Request) -> JSONResponse:
    """200 while the service answers requests; 503 while it starts or stops."""
    services = services_of(request)
    body = Health(
        status="ok" if services.ready else "starting",
        ready=services.ready,
        version=_version(),
        uptime_s=round(time.monotonic() - services.started_monotonic_s, 1),
    )
    return JSONResponse(body.model_dump(), status_code=200 if services.ready else 503)
