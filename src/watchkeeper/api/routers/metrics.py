"""Prometheus scrape endpoint (send the scraper a bearer token of a user with settings.read)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from watchkeeper.api.security import requires
from watchkeeper.api.state import services_of
from watchkeeper.governance.authz import Permission

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[requires(Permission.SETTINGS_READ)],
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request) -> Response:
    """Request counts and latencies by route, engine and analysis queues, pipeline timings, and
    each camera's frames, frame rate, state, reconnects and failures."""
    body = services_of(request).metrics.exposition()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
