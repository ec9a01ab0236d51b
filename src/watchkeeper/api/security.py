"""Who is calling, and what each route lets them do.

Every route declares its access through one of three dependency factories:

* ``requires(Permission.X, ...)``: a signed-in principal holding any of the listed permissions;
* ``signed_in()``: any signed-in principal (pages that only show the user their own options);
* ``public(reason)``: no credentials at all (health, sign-in), with the reason on record.

The factories tag their dependency with an :class:`Access`, and a test walks ``app.routes``
and fails on any route without one, so an unprotected route cannot be added by forgetting.
Credentials are an ``Authorization: Bearer`` token, the console's session cookie, or (for the
CompreFace-compatible routes) an ``x-api-key`` header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from watchkeeper.api.errors import AuthenticationError
from watchkeeper.api.state import services_of
from watchkeeper.core.errors import PermissionDeniedError
from watchkeeper.governance.authz import Permission, Principal, require
from watchkeeper.service.apikeys import KEY_PREFIX, RecognitionKey

SESSION_COOKIE = "wk_session"
RECOGNITION_KEY_STATE = "recognition_key"
API_KEY_HEADER = "x-api-key"
ACCESS_ATTR = "watchkeeper_access"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AccessKind(StrEnum):
    PUBLIC = "public"
    SIGNED_IN = "signed_in"
    PERMISSION = "permission"


class Credential(StrEnum):
    """Where a route reads credentials from."""

    BEARER_OR_COOKIE = "bearer_or_cookie"
    API_KEY = "api_key"


@dataclass(frozen=True, slots=True)
class Access:
    """A route's declared access rule."""

    kind: AccessKind
    any_of: frozenset[Permission] = frozenset()
    credential: Credential = Credential.BEARER_OR_COOKIE
    reason: str = ""

    def describe(self) -> str:
        if self.kind is AccessKind.PUBLIC:
            return f"public: {self.reason}"
        if self.kind is AccessKind.SIGNED_IN:
            return "any signed-in user"
        return "needs " + " or ".join(sorted(p.value for p in self.any_of))


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _credentials(request: Request, credential: Credential) -> str:
    if credential is Credential.API_KEY:
        key = request.headers.get(API_KEY_HEADER, "").strip()
        if not key:
            raise AuthenticationError(f"send your API key in the {API_KEY_HEADER} header")
        return key
    token = _bearer(request)
    if token is not None:
        return token
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        # SameSite=Strict keeps the cookie off cross-site requests; this also refuses a
        # cookie-authenticated change whose Origin names another site.
        if request.method not in _SAFE_METHODS and not _same_origin(request):
            raise PermissionDeniedError("cross-site request refused")
        return cookie
    raise AuthenticationError(
        "sign in first: send 'Authorization: Bearer <token>' (POST /api/auth/login gives one)"
    )


def resolve_principal(request: Request, access: Access) -> Principal:
    """Authenticate the request and check ``access``; the principal on success."""
    token = _credentials(request, access.credential)
    services = services_of(request)
    state = request.scope.setdefault("state", {})
    try:
        if access.credential is Credential.API_KEY and token.startswith(KEY_PREFIX):
            principal, key = services.accounts.resolve_key(token)
            state[RECOGNITION_KEY_STATE] = key
        else:
            principal = services.accounts.resolve(token)
    except PermissionDeniedError as exc:
        raise AuthenticationError(str(exc)) from None
    state["username"] = principal.username
    if access.kind is AccessKind.PERMISSION:
        allowed = [p for p in access.any_of if principal.can(p)]
        if not allowed:
            if len(access.any_of) == 1:
                require(principal, next(iter(access.any_of)))
            needed = " or ".join(sorted(p.value for p in access.any_of))
            raise PermissionDeniedError(
                f"user {principal.username!r} (roles: {principal.role_names}) may not do this: "
                f"it needs {needed}; ask an administrator if your duties need it"
            )
    return principal


def _tagged(access: Access, fn: Callable[..., Any]) -> Any:
    setattr(fn, ACCESS_ATTR, access)
    return Depends(fn)


def requires(*permissions: Permission, credential: Credential = Credential.BEARER_OR_COOKIE) -> Any:
    """Dependency: a principal holding any of ``permissions``.

    >>> from typing import Annotated
    >>> Caller = Annotated[Principal, requires(Permission.SEARCH_IDENTIFY)]
    """
    if not permissions:
        raise ValueError("requires() needs at least one permission; use signed_in() or public()")
    access = Access(AccessKind.PERMISSION, frozenset(permissions), credential)

    def principal_with_permission(request: Request) -> Principal:
        return resolve_principal(request, access)

    return _tagged(access, principal_with_permission)


def signed_in() -> Any:
    """Dependency: any signed-in principal, whatever their roles."""
    access = Access(AccessKind.SIGNED_IN)

    def any_principal(request: Request) -> Principal:
        return resolve_principal(request, access)

    return _tagged(access, any_principal)


def public(reason: str) -> Any:
    """Dependency that checks nothing, declaring on record why the route needs no sign-in."""
    access = Access(AccessKind.PUBLIC, reason=reason)

    def no_credentials() -> None:
        return None

    return _tagged(access, no_credentials)


def _walk(dependant: Dependant) -> Iterable[Access]:
    for sub in dependant.dependencies:
        access = getattr(sub.call, ACCESS_ATTR, None)
        if isinstance(access, Access):
            yield access
        yield from _walk(sub)


def declared_access(route: APIRoute) -> list[Access]:
    """Every access rule a route's dependencies declare (empty: the route declares none)."""
    return list(_walk(route.dependant))


def api_routes(routes: Sequence[BaseRoute]) -> list[APIRoute]:
    """The FastAPI routes among ``routes``, looking inside included routers.

    Recent FastAPI keeps included routers as units instead of copying their routes; its
    ``iter_route_contexts`` flattens them (older versions already have flat lists).
    """
    from fastapi import routing

    flatten = getattr(routing, "iter_route_contexts", None)
    found = [ctx.original_route for ctx in flatten(routes)] if flatten else list(routes)
    return [route for route in found if isinstance(route, APIRoute)]


def bound_key(request: Request) -> RecognitionKey:
    """The recognition key this request was made with (routes that need a watchlist binding).

    Raises:
        PermissionDeniedError: the ``x-api-key`` was a user token, which names no watchlist.
    """
    key = request.scope.get("state", {}).get(RECOGNITION_KEY_STATE)
    if not isinstance(key, RecognitionKey):
        raise PermissionDeniedError(
            "recognition needs an API key bound to a watchlist and a purpose; an administrator "
            "or the key's user creates one with POST /api/compreface/keys"
        )
    return key
