"""Sign-in and sign-out for API clients: a username and password buy an expiring token."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Response

from watchkeeper.api.accounts import Session
from watchkeeper.api.errors import AuthenticationError, RateLimitedError
from watchkeeper.api.schemas import LoginRequest, LoginResponse, Me
from watchkeeper.api.security import SESSION_COOKIE, public, signed_in
from watchkeeper.api.state import Services, services_of
from watchkeeper.core.errors import PermissionDeniedError
from watchkeeper.governance.authz import Principal

router = APIRouter(prefix="/api/auth", tags=["authentication"])


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def sign_in(services: Services, request: Request, username: str, password: str) -> Session:
    """Rate-limited sign-in shared by the API and the console.

    One attempt is spent from the username's bucket and from the client address's bucket
    before the password is checked, so guessing is slowed per account and per source.
    """
    keys = [f"user:{username.strip().casefold()}", f"ip:{client_address(request)}"]
    try:
        services.login_limiter.take(keys, what="sign-in attempts")
    except RateLimitedError:
        services.metrics.login_refusals.labels("rate_limited").inc()
        raise
    hours = services.settings.api.session_hours
    try:
        return services.accounts.sign_in(
            username, password, timedelta(hours=hours), label="sign-in"
        )
    except PermissionDeniedError:
        services.metrics.login_refusals.labels("credentials").inc()
        raise


def me_of(principal: Principal) -> Me:
    return Me(
        username=principal.username,
        roles=sorted(role.value for role in principal.roles),
        permissions=sorted(p.value for p in principal.permissions),
    )


@router.post(
    "/login",
    response_model=LoginResponse,
    dependencies=[public("signing in is how a caller gets credentials")],
    responses={
        401: {"description": "Wrong username or password"},
        429: {"description": "Slow down"},
    },
)
def login(body: LoginRequest, request: Request) -> LoginResponse:
    """Exchange a username and password for a bearer token."""
    services = services_of(request)
    try:
        session = sign_in(services, request, body.username, body.password)
    except PermissionDeniedError as exc:
        # A wrong password is a failed authentication (401), not a refused permission.
        raise AuthenticationError(str(exc)) from None
    return LoginResponse(
        access_token=session.token.plaintext,
        expires_at=session.token.expires_at,
        user=me_of(session.principal),
    )


@router.post("/logout", status_code=204, response_class=Response)
def logout(request: Request, principal: Annotated[Principal, signed_in()]) -> Response:
    """Revoke the token this request was made with."""
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip() or request.cookies.get(SESSION_COOKIE, "")
    services_of(request).accounts.sign_out(principal, token)
    return Response(status_code=204)


@router.get("/me", response_model=Me)
def whoami(principal: Annotated[Principal, signed_in()]) -> Me:
    """Who the token belongs to, and what they may do."""
    return me_of(principal)
