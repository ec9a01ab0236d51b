"""Accounts (administrators): add, list, disable users; API tokens; the four-eyes setting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from watchkeeper.api.schemas import (
    FourEyesIn,
    NewUserOut,
    Page,
    ReasonIn,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    page_of,
)
from watchkeeper.api.security import requires, signed_in
from watchkeeper.api.state import engine_call, services_of
from watchkeeper.governance.authz import IssuedToken, Permission, Principal, UserInfo

router = APIRouter(prefix="/api", tags=["accounts"])


def user_out(u: UserInfo) -> UserOut:
    return UserOut(
        username=u.username,
        roles=list(u.roles),
        created_at=u.created_at,
        disabled=u.disabled_at is not None,
        has_password=u.has_password,
    )


def token_out(token: IssuedToken, username: str) -> TokenOut:
    return TokenOut(
        token=token.plaintext,
        token_id=token.token_id,
        username=username,
        expires_at=token.expires_at,
    )


@router.get("/users", response_model=Page[UserOut])
def list_users(
    request: Request,
    principal: Annotated[Principal, requires(Permission.USERS_MANAGE)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[UserOut]:
    engine = services_of(request).engine
    users = engine_call(request, "users", lambda: engine.accounts.list_users(principal))
    return page_of([user_out(u) for u in users], limit, offset)


@router.post("/users", response_model=NewUserOut, status_code=201)
def add_user(
    request: Request,
    body: UserIn,
    principal: Annotated[Principal, requires(Permission.USERS_MANAGE)],
) -> NewUserOut:
    """Add a user with roles; their first API token is in the answer, shown once."""
    engine = services_of(request).engine
    account = engine_call(
        request,
        "user_add",
        lambda: engine.accounts.add_user(
            principal, body.username, body.roles, body.password, body.token_days
        ),
    )
    p = account.principal
    info = next(
        u
        for u in engine_call(request, "users", lambda: engine.accounts.list_users(principal))
        if u.user_id == p.user_id
    )
    return NewUserOut(user=user_out(info), token=token_out(account.token, p.username))


@router.post("/users/{username}/disable")
def disable_user(
    request: Request,
    username: str,
    body: ReasonIn,
    principal: Annotated[Principal, requires(Permission.USERS_MANAGE)],
) -> dict[str, object]:
    """Disable a user and revoke all their tokens (the last administrator cannot go)."""
    engine = services_of(request).engine
    revoked = engine_call(
        request,
        "user_disable",
        lambda: engine.accounts.disable_user(principal, username, body.reason),
    )
    return {"disabled": username, "tokens_revoked": revoked}


@router.post("/tokens", response_model=TokenOut, status_code=201)
def issue_token(
    request: Request, body: TokenIn, principal: Annotated[Principal, signed_in()]
) -> TokenOut:
    """A new API token for yourself, or (with users.manage) for another user; shown once."""
    engine = services_of(request).engine
    token = engine_call(
        request,
        "token_issue",
        lambda: engine.accounts.issue_token(principal, body.username, body.days, body.label),
    )
    return token_out(token, body.username or principal.username)


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response)
def revoke_token(
    request: Request, token_id: str, principal: Annotated[Principal, signed_in()]
) -> Response:
    """Revoke one of your tokens, or (with users.manage) anyone's."""
    engine = services_of(request).engine
    engine_call(request, "token_revoke", lambda: engine.accounts.revoke_token(principal, token_id))
    return Response(status_code=204)


@router.put("/settings/four-eyes")
def set_four_eyes(
    request: Request,
    body: FourEyesIn,
    principal: Annotated[Principal, requires(Permission.SETTINGS_CHANGE)],
) -> dict[str, bool]:
    """Switch four-eyes approval on or off; the change, its reason and author are audited."""
    engine = services_of(request).engine
    engine_call(
        request,
        "four_eyes",
        lambda: engine.accounts.set_four_eyes(principal, body.enabled, body.reason),
    )
    return {"four_eyes": body.enabled}
