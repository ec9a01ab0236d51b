"""The web console's routes: thin adapters that render ``watchkeeper.web`` pages.

Signed in by a session cookie (HttpOnly, SameSite=Strict) that carries an ordinary API token,
so the console and the JSON API share one authentication path and one permission check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from watchkeeper.api.errors import RateLimitedError
from watchkeeper.api.routers.auth import sign_in
from watchkeeper.api.routers.detect import DETECT_ACCESS, run_detect
from watchkeeper.api.security import SESSION_COOKIE, public, requires, signed_in
from watchkeeper.api.state import services_of
from watchkeeper.api.uploads import read_upload
from watchkeeper.core.errors import PermissionDeniedError, WatchkeeperError
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.web import STATIC_DIR, Pages, overlay_for

router = APIRouter(include_in_schema=False)
pages = Pages()


@dataclass(frozen=True, slots=True)
class UserView:
    """What the page header shows about the signed-in user, and which pages they may open."""

    name: str
    roles: str
    role_count: int
    can: frozenset[str]


# Console page -> the permissions that open it (any of them).
PAGE_ACCESS: dict[str, tuple[Permission, ...]] = {
    "detect": DETECT_ACCESS,
    "watchlists": (Permission.WATCHLIST_VIEW,),
    "enrol": (Permission.GALLERY_ENROL,),
    "identify": (Permission.SEARCH_IDENTIFY,),
    "verify": (Permission.SEARCH_VERIFY,),
    "review": (Permission.REVIEW_VIEW,),
    "cameras": (Permission.GALLERY_VIEW,),
    "sightings": (Permission.GALLERY_VIEW,),
    "approvals": (Permission.APPROVALS_APPROVE, Permission.WATCHLIST_CREATE),
    "audit": (Permission.AUDIT_READ,),
    "retention": (Permission.SETTINGS_READ, Permission.RETENTION_PURGE, Permission.REPORTS_READ),
    "report": (Permission.REPORTS_READ,),
    "users": (Permission.USERS_MANAGE,),
    "counts": (Permission.CAMERAS_MANAGE,),
    "erasure": (Permission.DATA_ERASE,),
    # A recognition key acts as its user, so anyone who may enrol, view or search may hold one.
    "keys": (
        Permission.GALLERY_ENROL,
        Permission.GALLERY_VIEW,
        Permission.SEARCH_IDENTIFY,
        Permission.SEARCH_VERIFY,
        Permission.USERS_MANAGE,
    ),
}


def user_view(principal: Principal) -> UserView:
    can = {name for name, needed in PAGE_ACCESS.items() if any(principal.can(p) for p in needed)}
    can |= {p.value for p in principal.permissions}
    return UserView(principal.username, principal.role_names, len(principal.roles), frozenset(can))


def page(
    template: str,
    title: str,
    principal: Principal | None,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    html = pages.render(
        template,
        {
            "title": title,
            "user": None if principal is None else user_view(principal),
            "active": context.pop("active", ""),
            **context,
        },
    )
    return HTMLResponse(html, status_code=status_code)


def render_problem_html(request: Request, status: int, title: str, detail: str) -> Response:
    """Errors on console pages: sign-in for 401, a readable page for everything else."""
    if status == 401:
        target = quote(request.url.path, safe="/")
        return RedirectResponse(f"/signin?next={target}", status_code=303)
    return page("problem.html", title, None, status_code=status, heading=title, detail=detail)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.state.render_problem_html = render_problem_html


def _local_path(target: str) -> str:
    """Only same-site paths are followed after sign-in (no open redirects)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


# -- sign-in ---------------------------------------------------------------------------------


@router.get("/signin", dependencies=[public("the sign-in form")])
def signin_form(next: str = "/") -> HTMLResponse:
    return page("signin.html", "Sign in", None, next=_local_path(next), username="", error="")


@router.post("/signin", dependencies=[public("signing in is how a caller gets credentials")])
def signin_submit(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    services = services_of(request)
    try:
        session = sign_in(services, request, username, password)
    except (PermissionDeniedError, RateLimitedError) as exc:
        status = 429 if isinstance(exc, RateLimitedError) else 401
        message = str(exc) if status == 429 else "Wrong username or password."
        return page(
            "signin.html",
            "Sign in",
            None,
            status_code=status,
            next=_local_path(next),
            username=username,
            error=message,
        )
    response = RedirectResponse(_local_path(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.token.plaintext,
        max_age=int(timedelta(hours=services.settings.api.session_hours).total_seconds()),
        httponly=True,
        samesite="strict",
        secure=services.settings.api.secure_cookies,
        path="/",
    )
    return response


@router.post("/signout")
def signout(request: Request, principal: Annotated[Principal, signed_in()]) -> Response:
    services_of(request).accounts.sign_out(principal, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# -- pages -----------------------------------------------------------------------------------


@router.get("/")
def dashboard(request: Request, principal: Annotated[Principal, signed_in()]) -> HTMLResponse:
    galleries = None
    if principal.can(Permission.WATCHLIST_VIEW):
        services = services_of(request)
        # Listing watchlists is itself audited (a view of who is being looked for).
        galleries = services.gate.run(
            "watchlists", lambda: services.engine.watchlists.list(principal)
        )
    return page(
        "dashboard.html",
        "Overview",
        principal,
        active="home",
        permissions=sorted(p.value for p in principal.permissions),
        galleries=galleries,
    )


def _detect_page(
    request: Request, principal: Principal, status_code: int = 200, **context: object
) -> HTMLResponse:
    api = services_of(request).settings.api
    return page(
        "detect.html",
        "Detect faces",
        principal,
        status_code=status_code,
        active="detect",
        max_mb=api.max_body_bytes // (1024 * 1024),
        max_mp=api.max_image_pixels // 1_000_000,
        **{"overlay": None, "error": "", "source": "", **context},
    )


@router.get("/detect")
def detect_form(
    request: Request, principal: Annotated[Principal, requires(*DETECT_ACCESS)]
) -> HTMLResponse:
    return _detect_page(request, principal)


@router.post("/detect")
def detect_submit(
    request: Request,
    principal: Annotated[Principal, requires(*DETECT_ACCESS)],
    file: Annotated[UploadFile, File()],
) -> HTMLResponse:
    try:
        frame = read_upload(file, services_of(request).settings)
        faces = run_detect(request, frame)
    except WatchkeeperError as exc:
        return _detect_page(request, principal, status_code=400, error=str(exc))
    return _detect_page(
        request, principal, overlay=overlay_for(frame.image, faces), source=frame.source_id
    )
