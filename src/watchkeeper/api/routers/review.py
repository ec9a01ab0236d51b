"""The review queue: candidate matches, both faces side by side, confirm or reject, stats."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from watchkeeper.api.schemas import CandidateOut, NoteIn, Page, ReviewStatsOut, page_of
from watchkeeper.api.security import requires
from watchkeeper.api.state import engine_call, services_of
from watchkeeper.core.errors import NotFoundError
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.governance.review import ReviewCandidate, ReviewStatus

router = APIRouter(prefix="/api/review", tags=["review"])

# The library lists at most this many candidates per call; pages are cut from them.
_MAX_LISTED = 1000


def candidate_out(c: ReviewCandidate) -> CandidateOut:
    return CandidateOut(
        candidate_id=c.candidate_id,
        created_at=c.created_at,
        watchlist=c.watchlist,
        identity_id=c.identity_id,
        display_name=c.display_name,
        similarity=round(c.similarity, 4),
        threshold=round(c.threshold, 4),
        probe_source=c.probe_source,
        searched_by=c.searched_by,
        purpose=c.purpose,
        status=c.status.value,
        decided_by=c.decided_by,
        decided_at=c.decided_at,
        note=c.note,
    )


@router.get("", response_model=Page[CandidateOut])
def list_candidates(
    request: Request,
    principal: Annotated[Principal, requires(Permission.REVIEW_VIEW)],
    status: Annotated[
        Literal["pending", "confirmed", "rejected", "all"],
        Query(description="pending (default), confirmed (the alerts), rejected or all."),
    ] = "pending",
    watchlist: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[CandidateOut]:
    """Candidates oldest first (totals count up to the first 1,000)."""
    engine = services_of(request).engine
    wanted = None if status == "all" else ReviewStatus(status)
    found = engine_call(
        request,
        "review_list",
        lambda: engine.review.list(principal, wanted, watchlist, _MAX_LISTED),
    )
    return page_of([candidate_out(c) for c in found], limit, offset)


@router.get("/stats", response_model=list[ReviewStatsOut])
def stats(
    request: Request, principal: Annotated[Principal, requires(Permission.REVIEW_VIEW)]
) -> list[ReviewStatsOut]:
    """Per watchlist: pending, confirmed, rejected, and the measured false-match rate."""
    engine = services_of(request).engine
    counts = engine_call(request, "review_stats", lambda: engine.review.counts(principal))
    return [
        ReviewStatsOut(
            watchlist=c.watchlist,
            pending=c.pending,
            confirmed=c.confirmed,
            rejected=c.rejected,
            measured_fmr=c.measured_fmr,
        )
        for c in counts
    ]


@router.get("/{candidate_id}", response_model=CandidateOut)
def show(
    request: Request,
    candidate_id: str,
    principal: Annotated[Principal, requires(Permission.REVIEW_VIEW)],
) -> CandidateOut:
    """One candidate; its faces are at ``/api/review/{id}/faces/probe`` and ``.../enrolled``."""
    engine = services_of(request).engine
    view = engine_call(request, "review_show", lambda: engine.review.show(principal, candidate_id))
    return candidate_out(view.candidate)


@router.get(
    "/{candidate_id}/faces/{which}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def face(
    request: Request,
    candidate_id: str,
    which: Literal["probe", "enrolled"],
    principal: Annotated[Principal, requires(Permission.REVIEW_VIEW)],
) -> Response:
    """The probe face or the enrolled face of a candidate (JPEG; each look is audited)."""
    engine = services_of(request).engine
    view = engine_call(request, "review_show", lambda: engine.review.show(principal, candidate_id))
    data = view.probe_jpeg if which == "probe" else view.enrolled_jpeg
    if data is None:
        raise NotFoundError(f"the {which} face of {candidate_id} is not kept")
    # Biometric data: never cached by browsers or proxies.
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _decide(
    request: Request, principal: Principal, cid: str, confirm: bool, note: str
) -> CandidateOut:
    engine = services_of(request).engine
    decided = engine_call(
        request, "review_decide", lambda: engine.review.decide(principal, cid, confirm, note)
    )
    return candidate_out(decided)


@router.post("/{candidate_id}/confirm", response_model=CandidateOut)
def confirm(
    request: Request,
    candidate_id: str,
    body: NoteIn,
    principal: Annotated[Principal, requires(Permission.REVIEW_DECIDE)],
) -> CandidateOut:
    """Confirm a candidate: it becomes an alert."""
    return _decide(request, principal, candidate_id, True, body.note)


@router.post("/{candidate_id}/reject", response_model=CandidateOut)
def reject(
    request: Request,
    candidate_id: str,
    body: NoteIn,
    principal: Annotated[Principal, requires(Permission.REVIEW_DECIDE)],
) -> CandidateOut:
    """Reject a candidate: a false match, counted in the measured false-match rate."""
    return _decide(request, principal, candidate_id, False, body.note)
