"""Errors as RFC 9457 problem details: one table maps every typed error to an HTTP status.

The JSON API answers ``application/problem+json`` documents with ``type``, ``title``, ``status``,
``detail`` and ``instance``. The CompreFace-compatible routes under ``/api/v1`` answer the shape
CompreFace clients test for (``message`` and a numeric ``code``, e.g. 28 for "no face"), with the
problem members alongside, so both kinds of client read the same document.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from watchkeeper.core.errors import (
    ConfigError,
    ContractMismatchError,
    ImageError,
    InvalidInputError,
    ModelFileError,
    MultipleFacesError,
    NoFaceError,
    NotFoundError,
    PermissionDeniedError,
    PolicyViolationError,
    StoreError,
    WatchkeeperError,
)
from watchkeeper.governance.policy import safe_excerpt

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
COMPREFACE_PREFIX = "/api/v1/"


class AuthenticationError(PermissionDeniedError):
    """No credentials, or credentials that resolve to nobody (HTTP 401, not 403)."""


class RateLimitedError(WatchkeeperError):
    """Too many attempts; ``retry_after_s`` says when the next one is allowed."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """How one error class is reported: HTTP status, a short slug and title, CompreFace code."""

    status: int
    slug: str
    title: str
    compreface_code: int


# Most specific first: the first class an error is an instance of decides. CompreFace codes are
# those its clients already know (28 no face, 31 too many faces, 20 missing header, 26 invalid).
ERROR_TABLE: tuple[tuple[type[WatchkeeperError], ProblemKind], ...] = (
    (NoFaceError, ProblemKind(422, "no-face", "No usable face", 28)),
    (MultipleFacesError, ProblemKind(422, "several-faces", "More than one face", 31)),
    (ImageError, ProblemKind(400, "bad-image", "Unreadable or unsafe image", 26)),
    (InvalidInputError, ProblemKind(400, "invalid-input", "Invalid input", 26)),
    (AuthenticationError, ProblemKind(401, "unauthenticated", "Authentication required", 20)),
    (PolicyViolationError, ProblemKind(403, "policy", "Refused by the responsible-use policy", 36)),
    (PermissionDeniedError, ProblemKind(403, "forbidden", "Not allowed", 7)),
    (NotFoundError, ProblemKind(404, "not-found", "Not found", 42)),
    (ContractMismatchError, ProblemKind(409, "model-mismatch", "Embedding model mismatch", 36)),
    (RateLimitedError, ProblemKind(429, "rate-limited", "Too many attempts", 0)),
    (ModelFileError, ProblemKind(503, "model-unavailable", "Model file problem", 41)),
    (StoreError, ProblemKind(503, "store-unavailable", "Store problem", 41)),
    (ConfigError, ProblemKind(500, "configuration", "Configuration problem", 0)),
    (WatchkeeperError, ProblemKind(500, "internal", "Internal error", 0)),
)

_HTTP_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
}


def kind_of(error: WatchkeeperError) -> ProblemKind:
    """The reporting rule for ``error`` (its most specific class in :data:`ERROR_TABLE`)."""
    for cls, kind in ERROR_TABLE:
        if isinstance(error, cls):
            return kind
    return ERROR_TABLE[-1][1]


def problem_type(slug: str) -> str:
    return f"urn:watchkeeper:problem:{slug}"


def is_compreface(request: Request) -> bool:
    return request.url.path.startswith(COMPREFACE_PREFIX)


def wants_html(request: Request) -> bool:
    """A browser asking for a console page (not an API client)."""
    path = request.url.path
    return (
        not path.startswith("/api/")
        and path not in {"/healthz", "/metrics"}
        and "text/html" in request.headers.get("accept", "")
    )


def problem_response(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str,
    compreface_code: int = 0,
    headers: dict[str, str] | None = None,
    extra: dict[str, object] | None = None,
) -> Response:
    """A problem document for ``request``, shaped for CompreFace clients under ``/api/v1``; a
    readable page (or the way to sign in) for a browser on a console page."""
    if wants_html(request):
        html_renderer = getattr(request.app.state, "render_problem_html", None)
        if html_renderer is not None:
            rendered: Response = html_renderer(request, status, title, detail)
            return rendered
    body: dict[str, object] = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **(extra or {}),
    }
    if is_compreface(request):
        # CompreFace answers client errors with 400 and tells them apart by "code".
        wire_status = 400 if status == 422 else status
        body.update(status=wire_status, message=detail, code=compreface_code)
        return JSONResponse(body, status_code=wire_status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def _watchkeeper_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, WatchkeeperError):  # pragma: no cover - registered for this type only
        raise exc
    kind = kind_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    if kind.status >= 500:
        log.error("request failed: %s", exc, exc_info=exc)
    return problem_response(
        request, kind.status, kind.slug, kind.title, str(exc), kind.compreface_code, headers
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        raise exc
    problems = [
        {
            "where": ".".join(str(part) for part in error.get("loc", ())),
            "problem": safe_excerpt(str(error.get("msg", "")), 200),
        }
        for error in exc.errors()
    ]
    summary = "; ".join(f"{p['where']}: {p['problem']}" for p in problems[:5])
    return problem_response(
        request,
        400,
        "invalid-request",
        "Invalid request",
        f"the request does not match what this route takes ({summary})",
        26,
        extra={"errors": problems},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover
        raise exc
    title = _HTTP_TITLES.get(exc.status_code, "Error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"there is nothing at {safe_excerpt(request.url.path, 100)}"
    return problem_response(
        request,
        exc.status_code,
        f"http-{exc.status_code}",
        title,
        detail,
        26 if exc.status_code in (400, 413) else 0,
        headers=dict(exc.headers or {}),
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the problem-details mapping."""
    app.add_exception_handler(WatchkeeperError, _watchkeeper_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
