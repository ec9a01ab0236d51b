"""Console forms for the rarer governed work: extending and widening a watchlist, erasing a
person, recognition keys, the signed audit checkpoint, and the Counts page.

Like every console page these are thin adapters: each action is one engine use-case (which
checks the permission and writes the audit record), and a refusal re-renders the page with
the reason and the HTTP status of the refusal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from watchkeeper.api.routers.console import PAGE_ACCESS, page
from watchkeeper.api.routers.console_governed import (
    attempt_action,
    parse_day,
    redirect_back,
    render_watchlists_page,
)
from watchkeeper.api.security import requires
from watchkeeper.api.state import engine_call, services_of
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.gallery.watchlist import EnrolmentBasis
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.service.apikeys import MAX_KEY_DAYS
from watchkeeper.service.engine import Engine
from watchkeeper.service.watchlists import WatchlistChange
from watchkeeper.store.counting import CountingRecords
from watchkeeper.zones.analytics import Bucket, CountRow
from watchkeeper.zones.charts import bar_chart_png

router = APIRouter(include_in_schema=False)


def _engine(request: Request) -> Engine:
    return services_of(request).engine


def _can(name: str) -> object:
    return requires(*PAGE_ACCESS[name])


def _changed(change: WatchlistChange, done: str) -> Response:
    if change.applied:
        return redirect_back("/watchlists", done)
    return redirect_back(
        "/watchlists",
        f"Request {change.approval_id} filed: the change waits for approval by a second person "
        "on the Approvals page.",
    )


# -- watchlists: extend and widen ----------------------------------------------------------------


@router.post("/watchlists/{name}/extend")
def watchlist_extend(
    request: Request,
    name: str,
    principal: Annotated[Principal, requires(Permission.WATCHLIST_MANAGE)],
    reason: Annotated[str, Form(max_length=500)],
    expires_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """A new expiry date (UTC midnight); later than now needs approval under four-eyes."""
    engine = _engine(request)
    try:
        if not expires_on.strip():
            raise InvalidInputError("give the new end date, like 2026-05-01")
        until = parse_day(expires_on.strip(), engine.site.now())
    except InvalidInputError as exc:
        return render_watchlists_page(request, principal, 400, error=str(exc))
    change, error, status = attempt_action(
        request,
        "watchlist_extend",
        lambda: engine.watchlists.extend(principal, name, until, reason),
    )
    if change is None:
        return render_watchlists_page(request, principal, status, error=error)
    return _changed(change, f"Watchlist {name} now ends on {until:%Y-%m-%d}.")


@router.post("/watchlists/{name}/widen")
def watchlist_widen(
    request: Request,
    name: str,
    principal: Annotated[Principal, requires(Permission.WATCHLIST_MANAGE)],
    reason: Annotated[str, Form(max_length=500)],
    max_people: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """A new most-people limit (blank: no limit); more people needs approval under four-eyes."""
    text = max_people.strip()
    if text and not text.isdigit():
        return render_watchlists_page(
            request, principal, 400, error="the most people is a whole number, or blank"
        )
    limit = int(text) if text else None
    change, error, status = attempt_action(
        request,
        "watchlist_widen",
        lambda: _engine(request).watchlists.widen(principal, name, limit, reason),
    )
    if change is None:
        return render_watchlists_page(request, principal, status, error=error)
    size = "no limit" if limit is None else f"at most {limit} people"
    return _changed(change, f"Watchlist {name} now holds {size}.")


# -- erasure -------------------------------------------------------------------------------------


def _erasure_page(
    request: Request, principal: Principal, status: int = 200, **context: object
) -> HTMLResponse:
    return page(
        "erasure.html",
        "Erasure",
        principal,
        status_code=status,
        active="erasure",
        **{"error": "", "confirm": None, "receipt": None, "person": "", "reason": "", **context},
    )


@router.get("/erasure")
def erasure_form(
    request: Request, principal: Annotated[Principal, _can("erasure")]
) -> HTMLResponse:
    return _erasure_page(request, principal)


@router.post("/erasure")
def erasure_submit(
    request: Request,
    principal: Annotated[Principal, requires(Permission.DATA_ERASE)],
    person: Annotated[str, Form(max_length=200)],
    reason: Annotated[str, Form(max_length=500)],
    confirmed: Annotated[str, Form(max_length=3)] = "",
) -> HTMLResponse:
    """First post: a confirmation step naming what goes. Second (confirmed=yes): the erasure."""
    if confirmed != "yes":
        return _erasure_page(request, principal, confirm=True, person=person, reason=reason)
    receipt, error, status = attempt_action(
        request, "erase", lambda: _engine(request).erasure.erase_person(principal, person, reason)
    )
    if receipt is None:
        return _erasure_page(request, principal, status, error=error, person=person, reason=reason)
    return _erasure_page(
        request,
        principal,
        receipt=receipt,
        receipt_json=receipt.to_json(),
        notice=f"{receipt.subject} is erased everywhere. Keep the receipt below.",
    )


# -- recognition keys ----------------------------------------------------------------------------


def _keys_page(
    request: Request, principal: Principal, status: int = 200, **context: object
) -> HTMLResponse:
    engine = _engine(request)
    keys = engine_call(request, "keys", lambda: engine.recognition_keys.list(principal))
    watchlists: list[str] = []
    if principal.can(Permission.WATCHLIST_VIEW):
        infos = engine_call(request, "watchlists", lambda: engine.watchlists.list(principal))
        watchlists = [i.record.name for i in infos if i.active]
    return page(
        "keys.html",
        "Recognition keys",
        principal,
        status_code=status,
        active="keys",
        keys=keys,
        now=engine.site.now(),
        watchlists=watchlists,
        bases=[b.value for b in EnrolmentBasis],
        max_days=MAX_KEY_DAYS,
        **{
            "error": "",
            "new_key": None,
            "form": {},
            "notice": request.query_params.get("notice", ""),
            **context,
        },
    )


@router.get("/keys")
def keys(request: Request, principal: Annotated[Principal, _can("keys")]) -> HTMLResponse:
    return _keys_page(request, principal)


@router.post("/keys")
def key_issue(
    request: Request,
    principal: Annotated[Principal, _can("keys")],
    watchlist: Annotated[str, Form(max_length=64)],
    purpose: Annotated[str, Form(max_length=500)],
    basis: Annotated[str, Form(max_length=40)] = "consent",
    days: Annotated[int, Form(ge=1, le=MAX_KEY_DAYS)] = 90,
    label: Annotated[str, Form(max_length=100)] = "",
    username: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    """A key bound to one watchlist and purpose; its plaintext is shown this once."""
    issued, error, status = attempt_action(
        request,
        "key_issue",
        lambda: _engine(request).recognition_keys.issue(
            principal,
            watchlist,
            purpose,
            username=username.strip() or None,
            basis=basis,
            days=days,
            label=label,
        ),
    )
    if issued is None:
        form = {"watchlist": watchlist, "purpose": purpose, "label": label, "days": days}
        return _keys_page(request, principal, status, error=error, form=form)
    return _keys_page(
        request,
        principal,
        new_key=issued.plaintext,
        notice=f"Key {issued.key.key_id} for {issued.key.username} on {issued.key.watchlist} "
        f"until {issued.key.expires_at:%Y-%m-%d}.",
    )


@router.post("/keys/{key_id}/revoke")
def key_revoke(
    request: Request, key_id: str, principal: Annotated[Principal, _can("keys")]
) -> Response:
    _, error, status = attempt_action(
        request,
        "key_revoke",
        lambda: _engine(request).recognition_keys.revoke(principal, key_id),
    )
    if error:
        return _keys_page(request, principal, status, error=error)
    return redirect_back("/keys", f"Key {key_id} revoked: it opens nothing from now on.")


# -- audit checkpoint ----------------------------------------------------------------------------


@router.post("/audit/checkpoint")
def audit_checkpoint_download(
    request: Request, principal: Annotated[Principal, requires(Permission.AUDIT_VERIFY)]
) -> Response:
    """The signed head of the audit log as a file to keep away from this machine."""
    services = services_of(request)
    key = services.settings.governance.audit_signing_key
    if key is None:
        error = (
            "No audit signing key is configured (governance.audit_signing_key). Create one "
            "with `watchkeeper audit keygen PATH` outside the data directory."
        )
        checkpoint, status = None, 400
    else:
        checkpoint, error, status = attempt_action(
            request,
            "audit_checkpoint",
            lambda: services.engine.oversight.export_checkpoint(principal, key),
        )
    if checkpoint is None:
        return page(
            "audit.html",
            "Audit log",
            principal,
            status_code=status,
            active="audit",
            records=(),
            next_after=None,
            filters={"actor": "", "action": "", "watchlist": ""},
            chain=None,
            error=error,
        )
    name = f"audit-checkpoint-{checkpoint.seq}-{checkpoint.at:%Y%m%dT%H%M%SZ}.json"
    return Response(
        checkpoint.to_json(),
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


# -- counts --------------------------------------------------------------------------------------

# The longest range the page charts at once, so one request stays a small read.
MAX_COUNT_DAYS = 92


@dataclass(frozen=True, slots=True)
class PlaceCounts:
    """One camera's line or zone over the chosen range: totals per kind, group and direction."""

    camera_id: str
    place_id: str
    totals: tuple[tuple[str, str, str, int], ...]

    @property
    def total(self) -> int:
        return sum(t[3] for t in self.totals)


def _range(engine: Engine, since: str, until: str) -> tuple[datetime, datetime]:
    today = engine.site.now().replace(hour=0, minute=0, second=0, microsecond=0)
    start = parse_day(since.strip(), today - timedelta(days=6))
    end = parse_day(until.strip(), today + timedelta(days=1))
    if end <= start:
        raise InvalidInputError("the end date must come after the start date")
    if end - start > timedelta(days=MAX_COUNT_DAYS):
        raise InvalidInputError(f"show at most {MAX_COUNT_DAYS} days at a time")
    return start, end


def _rows(
    request: Request, camera: str | None, start: datetime, end: datetime
) -> tuple[CountRow, ...]:
    store = _engine(request).store
    series = engine_call(
        request,
        "counts_series",
        lambda: CountingRecords(store).series(camera, since=start, until=end),
    )
    return series.rows


def place_counts(rows: tuple[CountRow, ...]) -> list[PlaceCounts]:
    """Totals per camera and place, sorted; kinds, groups and directions within each."""
    summed: dict[tuple[str, str], Counter[tuple[str, str, str]]] = defaultdict(Counter)
    for r in rows:
        direction = "" if r.direction is None else r.direction.value
        summed[(r.camera_id, r.place_id)][(r.event_kind, r.class_group.value, direction)] += r.count
    return [
        PlaceCounts(camera, place, tuple((*key, n) for key, n in sorted(counts.items())))
        for (camera, place), counts in sorted(summed.items())
    ]


def hourly_series(rows: tuple[CountRow, ...]) -> tuple[list[str], dict[str, list[float]]]:
    """Hour labels (hours with any count) and one series per kind/group/direction."""
    hours = sorted({Bucket.HOUR.floor(r.bucket_start_at) for r in rows})
    index = {h: i for i, h in enumerate(hours)}
    series: dict[str, list[float]] = {}
    for r in rows:
        name = f"{r.class_group.value} {r.direction.value if r.direction else r.event_kind}"
        values = series.setdefault(name, [0.0] * len(hours))
        values[index[Bucket.HOUR.floor(r.bucket_start_at)]] += r.count
    return [h.strftime("%d %H:00") for h in hours], dict(sorted(series.items()))


@router.get("/counts")
def counts(
    request: Request,
    principal: Annotated[Principal, _can("counts")],
    camera: str = "",
    since: str = "",
    until: str = "",
) -> HTMLResponse:
    engine = _engine(request)
    wanted = camera.strip()[:100] or None
    error, status = "", 200
    try:
        start, end = _range(engine, since, until)
    except InvalidInputError as exc:
        error, status = str(exc), 400
        start, end = _range(engine, "", "")
    places = place_counts(_rows(request, wanted, start, end)) if not error else []
    return page(
        "counts.html",
        "Counts",
        principal,
        status_code=status,
        active="counts",
        places=places,
        camera=wanted or "",
        since=start.strftime("%Y-%m-%d"),
        until=end.strftime("%Y-%m-%d"),
        error=error,
    )


@router.get("/counts/chart.png")
def counts_chart(
    request: Request,
    principal: Annotated[Principal, _can("counts")],
    camera: str,
    place: str,
    since: str = "",
    until: str = "",
) -> Response:
    """Traffic per hour at one camera's line or zone, as a PNG bar chart."""
    start, end = _range(_engine(request), since, until)
    rows = tuple(r for r in _rows(request, camera[:100], start, end) if r.place_id == place)
    if not rows:
        raise InvalidInputError(f"no counts at {camera[:100]!r} / {place[:100]!r} in this range")
    labels, series = hourly_series(rows)
    title = f"{camera} / {place}: counts per hour (UTC)"
    png = bar_chart_png(title, labels, series)
    return Response(png, media_type="image/png", headers={"cache-control": "no-store"})
