"""Read-only views over the video work: sightings of faces, the event log, anonymous counts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from watchkeeper.api.schemas import CountOut, CountsOut, EventOut, Page, SightingOut, page_of
from watchkeeper.api.security import requires
from watchkeeper.api.state import engine_call, services_of
from watchkeeper.core import ClassGroup
from watchkeeper.events.outbox import StoredEvent
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.store.counting import CountingRecords
from watchkeeper.store.sightings import SightingRecord
from watchkeeper.zones.analytics import Bucket, CountRow
from watchkeeper.zones.events import Direction

router = APIRouter(prefix="/api", tags=["video"])

# The library lists at most this many sightings per call; pages are cut from them.
_MAX_LISTED = 1000


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def sighting_out(s: SightingRecord) -> SightingOut:
    return SightingOut(
        sighting_id=s.sighting_id,
        camera_id=s.camera_id,
        track_id=s.track_id,
        identity_id=s.identity_id,
        display_name=s.display_name,
        watchlist=s.watchlist,
        link_id=s.link_id,
        first_seen_at=s.first_seen_at,
        last_seen_at=s.last_seen_at,
        frames=s.frames,
        detector_score=round(s.detector_score, 4),
        quality=None if s.quality is None else round(s.quality, 4),
        similarity=None if s.similarity is None else round(s.similarity, 4),
        vote_share=None if s.vote_share is None else round(s.vote_share, 4),
    )


def event_out(e: StoredEvent) -> EventOut:
    return EventOut(
        seq=e.seq,
        kind=e.event.kind,
        at=e.event.at,
        camera_id=getattr(e.event, "camera_id", None),
        payload=e.event.model_dump(mode="json"),
    )


def _hourly(rows: tuple[CountRow, ...]) -> list[CountRow]:
    """Sums minute rows into hour rows (same key), keeping time-then-key order."""
    summed: Counter[tuple[datetime, str, str, str, ClassGroup, Direction | None]] = Counter()
    for r in rows:
        key = (
            Bucket.HOUR.floor(r.bucket_start_at),
            r.camera_id,
            r.place_id,
            r.event_kind,
            r.class_group,
            r.direction,
        )
        summed[key] += r.count
    # Minute rows arrive sorted, and dicts keep insertion order, but several cameras' minutes
    # interleave within an hour: sort on the same key the store sorts on.
    ordered = sorted(
        summed.items(),
        key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3], kv[0][4].value, kv[0][5] or ""),
    )
    return [
        CountRow(t, cam, place, kind, group, direction, n)
        for (t, cam, place, kind, group, direction), n in ordered
    ]


@router.get("/sightings", response_model=Page[SightingOut])
def list_sightings(
    request: Request,
    # Sightings are biometric records; the service checks the same permission and audits the look.
    principal: Annotated[Principal, requires(Permission.GALLERY_VIEW)],
    camera: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[SightingOut]:
    """Recent sightings, newest first, with the identity or none (unknown); each read is audited.

    Totals count up to the most recent 1,000."""
    engine = services_of(request).engine
    found = engine_call(
        request,
        "sightings_list",
        lambda: engine.video.list_sightings(principal, camera_id=camera, limit=_MAX_LISTED),
    )
    return page_of([sighting_out(s) for s in found], limit, offset)


@router.get("/events", response_model=list[EventOut])
def list_events(
    request: Request,
    principal: Annotated[Principal, requires(Permission.CAMERAS_MANAGE)],
    after_seq: Annotated[int, Query(ge=0, description="Events after this seq (paging).")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EventOut]:
    """Stored events after ``after_seq``, oldest first; the last seq is the next cursor."""
    engine = services_of(request).engine
    found = engine_call(
        request,
        "events_list",
        lambda: engine.video.events(principal, after_seq=after_seq, limit=limit),
    )
    return [event_out(e) for e in found]


@router.get("/counts", response_model=CountsOut)
def counts(
    request: Request,
    # Counts are anonymous aggregates of what cameras saw, with no face or identity in them, so
    # they need no gallery or search right; they are camera output, and the operator who runs
    # the cameras (cameras.manage, the permission the event log uses too) is who reads them.
    principal: Annotated[Principal, requires(Permission.CAMERAS_MANAGE)],
    camera: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    bucket: Annotated[Literal["minute", "hour"], Query()] = "minute",
) -> CountsOut:
    """Counts per bucket, place, event kind, class group and direction within [from, to)."""
    engine = services_of(request).engine
    series = engine_call(
        request,
        "counts_series",
        lambda: CountingRecords(engine.store).series(camera, since=_utc(since), until=_utc(until)),
    )
    rows = list(series.rows) if bucket == "minute" else _hourly(series.rows)
    return CountsOut(
        bucket=bucket,
        rows=[
            CountOut(
                bucket_start_at=r.bucket_start_at,
                camera_id=r.camera_id,
                place_id=r.place_id,
                event_kind=r.event_kind,
                class_group=r.class_group.value,
                direction=None if r.direction is None else r.direction.value,
                count=r.count,
            )
            for r in rows
        ],
    )
