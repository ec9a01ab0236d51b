"""Pure ASGI middleware: per-request metrics, request ids, access logs and the size limit."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from watchkeeper.api.errors import problem_response
from watchkeeper.api.metrics import Metrics

access_log = logging.getLogger("watchkeeper.api.access")

REQUEST_ID_HEADER = "x-request-id"


def route_template(scope: Scope) -> str:
    """The matched route's path template ("/api/items/{id}"), so metrics stay low-cardinality."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class ObservabilityMiddleware:
    """Counts and times each request by route template and writes one JSON access record."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = dict(scope.get("headers", ()))
        incoming = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else ""
        request_id = request_id or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER.encode(), request_id.encode("latin-1")),
                ]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.in_progress.dec()
            elapsed_s = time.perf_counter() - start
            route = route_template(scope)
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed_s)
            client = scope.get("client")
            access_log.info(
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed_s * 1000, 2),
                    "client": client[0] if client else None,
                    "principal": scope.get("state", {}).get("username"),
                },
            )


class BodySizeLimitMiddleware:
    """Refuses request bodies above ``max_bytes`` with 413, as a problem document.

    A declared Content-Length above the limit is answered before any byte is read; a body sent
    without one (chunked) is counted as it streams in and stopped at the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _detail(self) -> str:
        return (
            f"the request body is larger than the {self.max_bytes:,}-byte limit; "
            "send a smaller file"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(
                Request(scope), 413, "http-413", "Request body too large", self._detail(), 26
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI passes HTTPExceptions from body parsing through to the handlers.
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, counting_receive, send)
