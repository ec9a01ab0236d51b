"""Console pages of the governed work: watchlists, enrolment, identify and verify by upload,
review, approvals, audit log, transparency report, retention, users.

Each page is a thin adapter over the same engine use-cases as the JSON API; a refused or
invalid action re-renders the page with the reason (and the HTTP status of the refusal).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from watchkeeper.api.errors import kind_of
from watchkeeper.api.explain import explain_match, explain_verification, fmr_text
from watchkeeper.api.routers.console import PAGE_ACCESS, page
from watchkeeper.api.security import requires
from watchkeeper.api.state import engine_call, engine_call_staged, services_of
from watchkeeper.api.uploads import read_upload
from watchkeeper.core import Decision
from watchkeeper.core.errors import InvalidInputError, WatchkeeperError
from watchkeeper.gallery.watchlist import EnrolmentBasis, WatchlistTerms
from watchkeeper.governance.audit import AuditRecord
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.governance.review import ReviewStatus
from watchkeeper.service.engine import Engine, Probe
from watchkeeper.web import overlay_for

router = APIRouter(include_in_schema=False)
T = TypeVar("T")


def _can(name: str) -> object:
    return requires(*PAGE_ACCESS[name])


def _engine(request: Request) -> Engine:
    return services_of(request).engine


def redirect_back(path: str, notice: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?notice={quote(notice)}", status_code=303)


def refusal_of(fn: Callable[[], T]) -> tuple[T | None, str, int]:
    """Call ``fn``; on a refusal, its message and HTTP status instead of an exception.

    Console forms show a refusal on the page they came from, so it must not become an error page.
    """
    try:
        return fn(), "", 200
    except WatchkeeperError as exc:
        return None, str(exc), kind_of(exc).status


def attempt_action(request: Request, op: str, fn: Callable[[], T]) -> tuple[T | None, str, int]:
    """Run a use-case through the engine gate, as :func:`refusal_of` reports it."""
    return refusal_of(lambda: engine_call(request, op, fn))


def _active_watchlists(request: Request, principal: Principal) -> list[str]:
    if not principal.can(Permission.WATCHLIST_VIEW):
        return []
    infos = engine_call(request, "watchlists", lambda: _engine(request).watchlists.list(principal))
    return [i.record.name for i in infos if i.active]


# -- watchlists ---------------------------------------------------------------------------------


def render_watchlists_page(
    request: Request, principal: Principal, status: int = 200, **context: object
) -> HTMLResponse:
    infos = engine_call(request, "watchlists", lambda: _engine(request).watchlists.list(principal))
    return page(
        "watchlists.html",
        "Watchlists",
        principal,
        status_code=status,
        active="watchlists",
        watchlists=infos,
        max_days=services_of(request).settings.governance.max_watchlist_days,
        notice=request.query_params.get("notice", ""),
        **{"error": "", "form": {}, **context},
    )


@router.get("/watchlists")
def watchlists(
    request: Request, principal: Annotated[Principal, _can("watchlists")]
) -> HTMLResponse:
    return render_watchlists_page(request, principal)


@router.post("/watchlists")
def watchlist_create(
    request: Request,
    principal: Annotated[Principal, requires(Permission.WATCHLIST_CREATE)],
    name: Annotated[str, Form(max_length=64)],
    purpose: Annotated[str, Form(max_length=500)],
    legal_basis: Annotated[str, Form(max_length=500)],
    days: Annotated[int, Form(ge=1, le=3650)],
    max_people: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    engine = _engine(request)
    limit = int(max_people) if max_people.strip().isdigit() else None
    terms = WatchlistTerms(
        purpose, legal_basis, engine.site.now() + timedelta(days=days), None, limit
    )
    change, error, status = attempt_action(
        request, "watchlist_create", lambda: engine.watchlists.create(principal, name, terms)
    )
    if change is None:
        form = {"name": name, "purpose": purpose, "legal_basis": legal_basis, "days": days}
        return render_watchlists_page(request, principal, status, error=error, form=form)
    if change.applied:
        return redirect_back("/watchlists", f"Watchlist {name} created and active for {days} days.")
    return redirect_back(
        "/watchlists",
        f"Watchlist {name} waits for a second person's approval (request {change.approval_id}).",
    )


@router.post("/watchlists/{name}/revoke")
def watchlist_revoke(
    request: Request,
    name: str,
    principal: Annotated[Principal, requires(Permission.WATCHLIST_MANAGE)],
    reason: Annotated[str, Form(max_length=500)],
) -> Response:
    _, error, status = attempt_action(
        request,
        "watchlist_revoke",
        lambda: _engine(request).watchlists.revoke(principal, name, reason),
    )
    if error:
        return render_watchlists_page(request, principal, status, error=error)
    return redirect_back(
        "/watchlists", f"Watchlist {name} revoked: it matches nothing from now on."
    )


# -- enrol --------------------------------------------------------------------------------------


def _enrol_page(
    request: Request, principal: Principal, status: int = 200, **context: object
) -> HTMLResponse:
    return page(
        "enrol.html",
        "Enrol a person",
        principal,
        status_code=status,
        active="enrol",
        watchlists=_active_watchlists(request, principal),
        bases=[b.value for b in EnrolmentBasis],
        notice=request.query_params.get("notice", ""),
        **{"error": "", **context},
    )


@router.get("/enrol")
def enrol_form(request: Request, principal: Annotated[Principal, _can("enrol")]) -> HTMLResponse:
    return _enrol_page(request, principal)


@router.post("/enrol")
def enrol_submit(
    request: Request,
    principal: Annotated[Principal, _can("enrol")],
    file: Annotated[UploadFile, File()],
    person: Annotated[str, Form(max_length=200)],
    watchlist: Annotated[str, Form(max_length=64)],
    basis: Annotated[str, Form(max_length=40)],
    source: Annotated[str, Form(max_length=500)],
) -> Response:
    engine = _engine(request)
    # A bad upload is refused like any other step: shown on the form, nothing stored.
    result, error, status = refusal_of(
        lambda: engine_call_staged(
            request,
            "enrol",
            lambda: engine.analyse_probe(read_upload(file, services_of(request).settings)),
            lambda probe: engine.enrol(principal, person, probe, watchlist, basis, source),
        )
    )
    if result is None:
        return _enrol_page(request, principal, status, error=error)
    said = "was already enrolled with this photo" if result.duplicate else "is enrolled"
    return redirect_back("/enrol", f"{result.person} {said} in {watchlist}.")


# -- identify and verify ------------------------------------------------------------------------


def _identify_page(
    request: Request, principal: Principal, status: int = 200, **context: object
) -> HTMLResponse:
    api = services_of(request).settings.api
    return page(
        "identify.html",
        "Identify",
        principal,
        status_code=status,
        active="identify",
        watchlists=_active_watchlists(request, principal),
        max_mb=api.max_body_bytes // (1024 * 1024),
        **{"error": "", "result": None, "overlay": None, "purpose": "", **context},
    )


@router.get("/identify")
def identify_form(
    request: Request, principal: Annotated[Principal, _can("identify")]
) -> HTMLResponse:
    return _identify_page(request, principal)


@router.post("/identify")
def identify_submit(
    request: Request,
    principal: Annotated[Principal, _can("identify")],
    file: Annotated[UploadFile, File()],
    watchlist: Annotated[str, Form(max_length=64)],
    purpose: Annotated[str, Form(max_length=500)],
) -> Response:
    engine = _engine(request)
    try:
        frame = read_upload(file, services_of(request).settings)
    except WatchkeeperError as exc:
        return _identify_page(request, principal, kind_of(exc).status, error=str(exc))
    result, error, status = refusal_of(
        lambda: engine_call_staged(
            request,
            "identify",
            lambda: engine.analyse_probe(frame),
            lambda probe: engine.identify(principal, probe, watchlist, purpose),
        )
    )
    if result is None:
        return _identify_page(request, principal, status, error=error, purpose=purpose)
    fmr = engine.settings.recognition.target_fmr
    rows = [
        {
            "number": i + 1,
            "decision": m.decision.value,
            "name": m.candidates[0].display_name
            if m.candidates and m.decision is Decision.MATCH
            else "",
            "similarity": m.candidates[0].similarity if m.candidates else None,
            "threshold": m.threshold,
            "explanation": explain_match(m, fmr),
            "candidate_id": result.candidate_ids[i] if i < len(result.candidate_ids) else None,
        }
        for i, m in enumerate(result.matches)
    ]
    return _identify_page(
        request,
        principal,
        result=rows,
        watchlist=watchlist,
        purpose=purpose,
        fmr=fmr_text(fmr),
        overlay=overlay_for(frame.image, result.faces),
        source=frame.source_id,
    )


def _verify_page(
    request: Request, principal: Principal, status: int = 200, **context: object
) -> HTMLResponse:
    return page(
        "verify.html",
        "Verify",
        principal,
        status_code=status,
        active="verify",
        **{"error": "", "result": None, "purpose": "", **context},
    )


@router.get("/verify")
def verify_form(request: Request, principal: Annotated[Principal, _can("verify")]) -> HTMLResponse:
    return _verify_page(request, principal)


@router.post("/verify")
def verify_submit(
    request: Request,
    principal: Annotated[Principal, _can("verify")],
    file_a: Annotated[UploadFile, File()],
    file_b: Annotated[UploadFile, File()],
    purpose: Annotated[str, Form(max_length=500)],
) -> Response:
    engine = _engine(request)

    def analyse_both() -> tuple[Probe, Probe]:
        limits = services_of(request).settings
        a, b = read_upload(file_a, limits), read_upload(file_b, limits)
        return engine.analyse_probe(a, crops=False), engine.analyse_probe(b, crops=False)

    result, error, status = refusal_of(
        lambda: engine_call_staged(
            request,
            "verify",
            analyse_both,
            lambda pair: engine.verify(principal, pair[0], pair[1], purpose),
        )
    )
    if result is None:
        return _verify_page(request, principal, status, error=error, purpose=purpose)
    return _verify_page(
        request,
        principal,
        result=result,
        explanation=explain_verification(result),
        purpose=purpose,
    )


# -- review -------------------------------------------------------------------------------------


@router.get("/review")
def review(
    request: Request, principal: Annotated[Principal, _can("review")], status: str = "pending"
) -> HTMLResponse:
    known = {s.value for s in ReviewStatus}
    wanted = ReviewStatus(status) if status in known else None
    status = status if status in known else "all"
    engine = _engine(request)
    found = engine_call(
        request, "review_list", lambda: engine.review.list(principal, wanted, None, 200)
    )
    counts = engine_call(request, "review_stats", lambda: engine.review.counts(principal))
    return page(
        "review.html",
        "Review queue",
        principal,
        active="review",
        candidates=found,
        counts=counts,
        status=status,
        notice=request.query_params.get("notice", ""),
        error=request.query_params.get("error", ""),
    )


# -- sightings ----------------------------------------------------------------------------------


@router.get("/sightings")
def sightings(
    request: Request, principal: Annotated[Principal, _can("sightings")], camera: str = ""
) -> HTMLResponse:
    engine = _engine(request)
    wanted = camera.strip()[:100] or None
    found = engine_call(
        request,
        "sightings_list",
        lambda: engine.video.list_sightings(principal, camera_id=wanted, limit=200),
    )
    return page(
        "sightings.html",
        "Sightings",
        principal,
        active="sightings",
        sightings=found,
        camera=wanted or "",
    )


@router.post("/review/{candidate_id}/decide")
def review_decide(
    request: Request,
    candidate_id: str,
    principal: Annotated[Principal, requires(Permission.REVIEW_DECIDE)],
    decision: Annotated[str, Form(pattern="^(confirm|reject)$")],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    confirm = decision == "confirm"
    decided, error, _ = attempt_action(
        request,
        "review_decide",
        lambda: _engine(request).review.decide(principal, candidate_id, confirm, note),
    )
    if decided is None:
        return RedirectResponse(f"/review?error={quote(error)}", status_code=303)
    what = "confirmed: it is now an alert" if confirm else "rejected as a false match"
    return redirect_back("/review", f"{decided.display_name} ({candidate_id}) {what}.")


# -- approvals ----------------------------------------------------------------------------------


@router.get("/approvals")
def approvals(request: Request, principal: Annotated[Principal, _can("approvals")]) -> HTMLResponse:
    pending = engine_call(
        request, "approvals", lambda: _engine(request).watchlists.pending_approvals(principal)
    )
    return page(
        "approvals.html",
        "Approvals",
        principal,
        active="approvals",
        pending=pending,
        notice=request.query_params.get("notice", ""),
        error=request.query_params.get("error", ""),
    )


@router.post("/approvals/{request_id}/decide")
def approval_decide(
    request: Request,
    request_id: str,
    principal: Annotated[Principal, requires(Permission.APPROVALS_APPROVE)],
    decision: Annotated[str, Form(pattern="^(approve|reject)$")],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    books = _engine(request).watchlists
    decide = books.approve if decision == "approve" else books.reject
    decided, error, _ = attempt_action(
        request, "approval", lambda: decide(principal, request_id, reason)
    )
    if decided is None:
        return RedirectResponse(f"/approvals?error={quote(error)}", status_code=303)
    verdict = "approved and applied" if decision == "approve" else "rejected"
    return redirect_back("/approvals", f"Request {request_id} {verdict}: {decided.summary}")


# -- audit --------------------------------------------------------------------------------------


@router.get("/audit")
def audit(
    request: Request,
    principal: Annotated[Principal, _can("audit")],
    actor: str = "",
    action: str = "",
    watchlist: str = "",
    after: int = 0,
) -> HTMLResponse:
    engine = _engine(request)
    result, error, status = attempt_action(
        request,
        "audit_log",
        lambda: engine.oversight.log(
            principal,
            actor=actor or None,
            action=action or None,
            watchlist=watchlist or None,
            after_seq=max(after, 0),
            limit=50,
        ),
    )
    return page(
        "audit.html",
        "Audit log",
        principal,
        status_code=status,
        active="audit",
        records=result.records if result else (),
        next_after=result.next_after_seq if result else None,
        filters={"actor": actor, "action": action, "watchlist": watchlist},
        chain=None,
        error=error,
    )


@router.post("/audit/verify")
def audit_verify(
    request: Request, principal: Annotated[Principal, requires(Permission.AUDIT_VERIFY)]
) -> HTMLResponse:
    engine = _engine(request)
    report = engine_call(request, "audit_verify", lambda: engine.oversight.verify(principal))
    records: tuple[AuditRecord, ...] = ()
    if principal.can(Permission.AUDIT_READ):
        records = engine_call(
            request, "audit_log", lambda: engine.oversight.log(principal, limit=50)
        ).records
    return page(
        "audit.html",
        "Audit log",
        principal,
        active="audit",
        records=records,
        next_after=None,
        filters={"actor": "", "action": "", "watchlist": ""},
        chain=report,
        error="",
    )


# -- transparency report ------------------------------------------------------------------------


def parse_day(text: str, default: datetime) -> datetime:
    if not text:
        return default
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInputError(f"dates look like 2026-05-01, got {text[:20]!r}") from None


@router.get("/report")
def report(
    request: Request,
    principal: Annotated[Principal, _can("report")],
    since: str = "",
    until: str = "",
) -> HTMLResponse:
    engine = _engine(request)
    today = engine.site.now().replace(hour=0, minute=0, second=0, microsecond=0)
    error, status, result = "", 200, None
    try:
        start = parse_day(since, today - timedelta(days=30))
        end = parse_day(until, today + timedelta(days=1))
        result, error, status = attempt_action(
            request, "report", lambda: engine.oversight.report(principal, start, end)
        )
    except InvalidInputError as exc:
        error, status = str(exc), 400
        start, end = today - timedelta(days=30), today + timedelta(days=1)
    return page(
        "report.html",
        "Transparency report",
        principal,
        status_code=status,
        active="report",
        report=result.to_dict() if result else None,
        since=start.strftime("%Y-%m-%d"),
        until=end.strftime("%Y-%m-%d"),
        error=error,
    )


# -- retention ----------------------------------------------------------------------------------


@router.get("/retention")
def retention(request: Request, principal: Annotated[Principal, _can("retention")]) -> HTMLResponse:
    services = services_of(request)
    return page(
        "retention.html",
        "Retention",
        principal,
        active="retention",
        days=services.settings.governance.retention.model_dump(),
        interval_h=services.settings.governance.purge_interval_s / 3600.0,
        four_eyes=engine_call(request, "four_eyes", services.engine.accounts.four_eyes),
        notice=request.query_params.get("notice", ""),
    )


@router.post("/retention/purge")
def retention_purge(
    request: Request, principal: Annotated[Principal, requires(Permission.RETENTION_PURGE)]
) -> Response:
    done = engine_call(request, "purge", lambda: _engine(request).retention.purge(principal))
    parts = ", ".join(f"{n} {kind.value.replace('_', ' ')}" for kind, n in done.removed.items())
    return redirect_back("/retention", f"Purge done: {parts}.")


# -- users --------------------------------------------------------------------------------------


def _users_page(
    request: Request, principal: Principal, status: int = 200, **context: object
) -> HTMLResponse:
    users = engine_call(request, "users", lambda: _engine(request).accounts.list_users(principal))
    return page(
        "users.html",
        "Users",
        principal,
        status_code=status,
        active="users",
        users=users,
        roles=["admin", "operator", "investigator", "reviewer", "auditor"],
        **{
            "error": "",
            "new_token": None,
            "notice": request.query_params.get("notice", ""),
            **context,
        },
    )


@router.get("/users")
def users(request: Request, principal: Annotated[Principal, _can("users")]) -> HTMLResponse:
    return _users_page(request, principal)


@router.post("/users")
def user_add(
    request: Request,
    principal: Annotated[Principal, requires(Permission.USERS_MANAGE)],
    username: Annotated[str, Form(max_length=64)],
    roles: Annotated[list[str], Form()],
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    account, error, status = attempt_action(
        request,
        "user_add",
        lambda: _engine(request).accounts.add_user(principal, username, roles, password or None),
    )
    if account is None:
        return _users_page(request, principal, status, error=error)
    return _users_page(
        request,
        principal,
        notice=f"Added {username} ({account.principal.role_names}).",
        new_token=account.token.plaintext,
    )


@router.post("/users/{username}/disable")
def user_disable(
    request: Request,
    username: str,
    principal: Annotated[Principal, requires(Permission.USERS_MANAGE)],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    revoked, error, status = attempt_action(
        request,
        "user_disable",
        lambda: _engine(request).accounts.disable_user(principal, username, reason),
    )
    if revoked is None:
        return _users_page(request, principal, status, error=error)
    return redirect_back("/users", f"Disabled {username}; {revoked} token(s) revoked.")
