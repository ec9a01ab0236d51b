"""Watchlists (create, list, show, extend, widen, revoke) and four-eyes approvals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from watchkeeper.api.schemas import (
    ApprovalOut,
    ChangeOut,
    ExtendIn,
    Page,
    ReasonIn,
    WatchlistIn,
    WatchlistOut,
    WidenIn,
    page_of,
)
from watchkeeper.api.security import requires
from watchkeeper.api.state import engine_call, services_of
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.gallery.watchlist import WatchlistTerms
from watchkeeper.governance.approvals import ApprovalRequest
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.service.engine import Engine
from watchkeeper.service.watchlists import WatchlistChange, WatchlistInfo

router = APIRouter(prefix="/api", tags=["watchlists"])

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]


def watchlist_out(info: WatchlistInfo) -> WatchlistOut:
    r = info.record
    return WatchlistOut(
        name=r.name,
        state=info.state,
        active=info.active,
        people=info.people,
        purpose=r.purpose,
        legal_basis=r.legal_basis,
        owner=r.owner,
        created_at=r.created_at,
        expires_at=r.expires_at,
        match_retention_days=r.match_retention_days,
        max_people=r.max_identities,
        pending_approval=info.pending_approval,
    )


def change_out(change: WatchlistChange, response: Response) -> ChangeOut:
    if not change.applied:
        response.status_code = 202  # accepted: waits for a second person
    return ChangeOut(
        watchlist=change.watchlist, applied=change.applied, approval_id=change.approval_id
    )


def approval_out(a: ApprovalRequest) -> ApprovalOut:
    return ApprovalOut(
        request_id=a.request_id,
        kind=a.kind.value,
        summary=a.summary,
        requester=a.requester_name,
        status=a.status.value,
        created_at=a.created_at,
        decided_by=a.decided_by_name,
        decided_at=a.decided_at,
        reason=a.reason,
    )


def expiry(engine: Engine, expires_at: datetime | None, days: int | None) -> datetime:
    """One of an expiry date (naive means UTC) or a number of days from now."""
    if (expires_at is None) == (days is None):
        raise InvalidInputError("give either expires_at or days")
    if expires_at is not None:
        return expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
    return engine.site.now() + timedelta(days=days or 0)


def _engine(request: Request) -> Engine:
    return services_of(request).engine


@router.get("/watchlists", response_model=Page[WatchlistOut])
def list_watchlists(
    request: Request,
    principal: Annotated[Principal, requires(Permission.WATCHLIST_VIEW)],
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[WatchlistOut]:
    """Watchlists with their state (active, pending, expired, revoked) and size."""
    engine = _engine(request)
    infos = engine_call(request, "watchlists", lambda: engine.watchlists.list(principal))
    return page_of([watchlist_out(i) for i in infos], limit, offset)


@router.post("/watchlists", response_model=ChangeOut, status_code=201)
def create_watchlist(
    request: Request,
    response: Response,
    body: WatchlistIn,
    principal: Annotated[Principal, requires(Permission.WATCHLIST_CREATE)],
) -> ChangeOut:
    """Create a watchlist with a purpose, legal basis and expiry (202 while it awaits approval)."""
    engine = _engine(request)
    terms = WatchlistTerms(
        body.purpose,
        body.legal_basis,
        expiry(engine, body.expires_at, body.days),
        body.match_retention_days,
        body.max_people,
    )
    change = engine_call(
        request, "watchlist_create", lambda: engine.watchlists.create(principal, body.name, terms)
    )
    return change_out(change, response)


@router.get("/watchlists/{name}", response_model=WatchlistOut)
def show_watchlist(
    request: Request,
    name: str,
    principal: Annotated[Principal, requires(Permission.WATCHLIST_VIEW)],
) -> WatchlistOut:
    engine = _engine(request)
    info = engine_call(request, "watchlist_show", lambda: engine.watchlists.show(principal, name))
    return watchlist_out(info)


@router.post("/watchlists/{name}/extend", response_model=ChangeOut)
def extend_watchlist(
    request: Request,
    response: Response,
    name: str,
    body: ExtendIn,
    principal: Annotated[Principal, requires(Permission.WATCHLIST_MANAGE)],
) -> ChangeOut:
    """Move the expiry; later needs a second person's approval under four-eyes (202)."""
    engine = _engine(request)
    until = expiry(engine, body.expires_at, body.days)
    change = engine_call(
        request,
        "watchlist_extend",
        lambda: engine.watchlists.extend(principal, name, until, body.reason),
    )
    return change_out(change, response)


@router.post("/watchlists/{name}/widen", response_model=ChangeOut)
def widen_watchlist(
    request: Request,
    response: Response,
    name: str,
    body: WidenIn,
    principal: Annotated[Principal, requires(Permission.WATCHLIST_MANAGE)],
) -> ChangeOut:
    """Change the most people it may hold; more needs approval under four-eyes (202)."""
    engine = _engine(request)
    change = engine_call(
        request,
        "watchlist_widen",
        lambda: engine.watchlists.widen(principal, name, body.max_people, body.reason),
    )
    return change_out(change, response)


@router.post("/watchlists/{name}/revoke", response_model=ChangeOut)
def revoke_watchlist(
    request: Request,
    response: Response,
    name: str,
    body: ReasonIn,
    principal: Annotated[Principal, requires(Permission.WATCHLIST_MANAGE)],
) -> ChangeOut:
    """End a watchlist now: it matches nothing from this moment. Never waits for approval."""
    engine = _engine(request)
    change = engine_call(
        request, "watchlist_revoke", lambda: engine.watchlists.revoke(principal, name, body.reason)
    )
    return change_out(change, response)


@router.get("/approvals", response_model=Page[ApprovalOut])
def list_approvals(
    request: Request,
    principal: Annotated[
        Principal, requires(Permission.APPROVALS_APPROVE, Permission.WATCHLIST_CREATE)
    ],
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[ApprovalOut]:
    """Open requests waiting for a second person."""
    engine = _engine(request)
    pending = engine_call(
        request, "approvals", lambda: engine.watchlists.pending_approvals(principal)
    )
    return page_of([approval_out(a) for a in pending], limit, offset)


@router.post("/approvals/{request_id}/approve", response_model=ApprovalOut)
def approve(
    request: Request,
    request_id: str,
    body: ReasonIn,
    principal: Annotated[Principal, requires(Permission.APPROVALS_APPROVE)],
) -> ApprovalOut:
    """Approve a request (never your own) and apply the change it asks for."""
    engine = _engine(request)
    decided = engine_call(
        request, "approve", lambda: engine.watchlists.approve(principal, request_id, body.reason)
    )
    return approval_out(decided)


@router.post("/approvals/{request_id}/reject", response_model=ApprovalOut)
def reject(
    request: Request,
    request_id: str,
    body: ReasonIn,
    principal: Annotated[Principal, requires(Permission.APPROVALS_APPROVE)],
) -> ApprovalOut:
    """Reject a request, saying why."""
    engine = _engine(request)
    decided = engine_call(
        request, "reject", lambda: engine.watchlists.reject(principal, request_id, body.reason)
    )
    return approval_out(decided)
