"""Oversight: the audit log (read, verify, signed checkpoint), retention settings and purge,
erasure of a person, and the transparency report (JSON and chart)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from watchkeeper.api.schemas import (
    AuditEntryOut,
    AuditPageOut,
    ChainOut,
    EraseIn,
    PurgeOut,
    RetentionOut,
)
from watchkeeper.api.security import requires
from watchkeeper.api.state import engine_call, services_of
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.governance.audit import AuditRecord
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.service.oversight import TransparencyReport

router = APIRouter(prefix="/api", tags=["oversight"])


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def entry_out(r: AuditRecord) -> AuditEntryOut:
    return AuditEntryOut(
        seq=r.seq,
        at=r.at,
        actor=r.actor,
        role=r.role,
        action=r.action,
        target=r.target,
        watchlist=r.watchlist,
        purpose=r.purpose,
        outcome=r.outcome.value,
        details=dict(r.details),
        hash=r.hash,
    )


@router.get("/audit", response_model=AuditPageOut)
def audit_log(
    request: Request,
    principal: Annotated[Principal, requires(Permission.AUDIT_READ)],
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100, description="e.g. search.identify")] = None,
    watchlist: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    after: Annotated[int, Query(ge=0, description="Entries after this seq (paging).")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPageOut:
    """The audit log, oldest first, paged by sequence number; reading it is audited too."""
    engine = services_of(request).engine
    page = engine_call(
        request,
        "audit_log",
        lambda: engine.oversight.log(
            principal,
            actor=actor,
            action=action,
            watchlist=watchlist,
            since=_utc(since),
            until=_utc(until),
            after_seq=after,
            limit=limit,
        ),
    )
    return AuditPageOut(
        entries=[entry_out(r) for r in page.records], next_after=page.next_after_seq
    )


@router.post("/audit/verify", response_model=ChainOut)
def audit_verify(
    request: Request, principal: Annotated[Principal, requires(Permission.AUDIT_VERIFY)]
) -> ChainOut:
    """Walk the whole hash chain; names the first edited, deleted, inserted or moved entry."""
    engine = services_of(request).engine
    report = engine_call(request, "audit_verify", lambda: engine.oversight.verify(principal))
    return ChainOut(
        ok=report.ok,
        entries_checked=report.entries_checked,
        head_seq=report.head_seq,
        broken_at=report.broken_at,
        kind=report.kind.value if report.kind else None,
        summary=report.summary(),
    )


@router.post("/audit/checkpoint")
def audit_checkpoint(
    request: Request, principal: Annotated[Principal, requires(Permission.AUDIT_VERIFY)]
) -> Response:
    """Sign the current head of the log with the site's audit signing key (keep it elsewhere)."""
    services = services_of(request)
    key = services.settings.governance.audit_signing_key
    if key is None:
        raise InvalidInputError(
            "no audit signing key is configured (governance.audit_signing_key); create one "
            "with `watchkeeper audit keygen PATH` outside the data directory"
        )
    checkpoint = engine_call(
        request,
        "audit_checkpoint",
        lambda: services.engine.oversight.export_checkpoint(principal, key),
    )
    return Response(checkpoint.to_json(), media_type="application/json")


@router.get("/retention", response_model=RetentionOut)
def retention_settings(
    request: Request,
    _: Annotated[
        Principal,
        requires(Permission.SETTINGS_READ, Permission.RETENTION_PURGE, Permission.REPORTS_READ),
    ],
) -> RetentionOut:
    """How long each kind of data is kept, how often the purge runs, and four-eyes."""
    services = services_of(request)
    governance = services.settings.governance
    return RetentionOut(
        days=governance.retention.model_dump(),
        purge_interval_s=governance.purge_interval_s,
        four_eyes=engine_call(request, "four_eyes", services.engine.accounts.four_eyes),
    )


@router.post("/retention/purge", response_model=PurgeOut)
def purge(
    request: Request, principal: Annotated[Principal, requires(Permission.RETENTION_PURGE)]
) -> PurgeOut:
    """Delete everything past its retention period now (it also runs on a schedule)."""
    engine = services_of(request).engine
    report = engine_call(request, "purge", lambda: engine.retention.purge(principal))
    return PurgeOut(
        at=report.at,
        removed={kind.value: n for kind, n in report.removed.items()},
        total=report.total,
    )


@router.post("/erasure")
def erase(
    request: Request,
    body: EraseIn,
    principal: Annotated[Principal, requires(Permission.DATA_ERASE)],
) -> dict[str, object]:
    """Erase a person everywhere (templates, crops, index entries, review entries); a receipt."""
    engine = services_of(request).engine
    receipt = engine_call(
        request, "erase", lambda: engine.erasure.erase_person(principal, body.person, body.reason)
    )
    return {**receipt.body(), "digest": receipt.digest}


def _report(
    request: Request, principal: Principal, since: datetime, until: datetime
) -> TransparencyReport:
    engine = services_of(request).engine
    start, end = _utc(since), _utc(until)
    if start is None or end is None:  # pragma: no cover - required query parameters
        raise InvalidInputError("give from and to")
    return engine_call(request, "report", lambda: engine.oversight.report(principal, start, end))


From = Annotated[datetime, Query(alias="from", description="Start (UTC), e.g. 2026-01-01.")]
To = Annotated[datetime, Query(alias="to", description="End (UTC, exclusive).")]


@router.get("/reports/transparency")
def transparency(
    request: Request,
    principal: Annotated[Principal, requires(Permission.REPORTS_READ)],
    since: From,
    until: To,
) -> dict[str, object]:
    """Activity in a period from the audit log: totals and per watchlist."""
    return _report(request, principal, since, until).to_dict()


@router.get(
    "/reports/transparency/chart.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def transparency_chart(
    request: Request,
    principal: Annotated[Principal, requires(Permission.REPORTS_READ)],
    since: From,
    until: To,
) -> Response:
    """The report as a bar chart (PNG)."""
    return Response(_report(request, principal, since, until).chart_png(), media_type="image/png")
