"""``Event``: the one thing that crosses process boundaries, a frozen pydantic union on ``kind``.

Face events name a camera and a track; only a candidate or a confirmed alert names a person,
and only through the identity id and display name the review queue already holds. Counting
events (lines and zones) come from ``watchkeeper.zones.events`` and join the same union.

>>> from datetime import UTC, datetime
>>> event = TrackStarted(camera_id="door", track_id=3, at=datetime(2026, 1, 1, tzinfo=UTC))
>>> parse_event(event.model_dump_json()).kind
'track_started'
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from watchkeeper.zones.events import (
    DwellExceeded,
    LineCrossed,
    UtcDatetime,
    ZoneEntered,
    ZoneLeft,
)

__all__ = [
    "AlertConfirmed",
    "Event",
    "FaceEvent",
    "TrackEnded",
    "TrackStarted",
    "WatchlistCandidate",
    "event_id_of",
    "parse_event",
]


def _new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex[:20]}"


class _FaceEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(
        default_factory=_new_event_id,
        title="Event id",
        description="Unique id; receivers use it to drop a duplicate delivery.",
    )
    camera_id: str = Field(title="Camera", description="The camera whose frames produced it.")
    track_id: int = Field(title="Track", description="Track number within the camera.")
    at: UtcDatetime = Field(title="At", description="Capture time of the frame (UTC).")


class TrackStarted(_FaceEvent):
    """A face track was confirmed (seen on enough consecutive detections)."""

    kind: Literal["track_started"] = "track_started"
    box_xyxy: tuple[float, float, float, float] | None = Field(
        default=None, title="Box", description="Where the face was (pixels)."
    )


class TrackEnded(_FaceEvent):
    """A face track ended; its sighting was stored."""

    kind: Literal["track_ended"] = "track_ended"
    sighting_id: str | None = Field(
        default=None, title="Sighting", description="The stored sighting of this track."
    )
    identity_id: str | None = Field(
        default=None,
        title="Identity",
        description="The identity the track's vote settled on; empty when unknown.",
    )
    frames: int = Field(default=0, ge=0, title="Frames", description="Frames in the track.")
    duration_s: float = Field(default=0.0, ge=0, title="Duration", description="Seconds seen.")


class WatchlistCandidate(_FaceEvent):
    """A track's vote matched a watchlist person: a review candidate, not yet an alert."""

    kind: Literal["watchlist_candidate"] = "watchlist_candidate"
    candidate_id: str = Field(title="Candidate", description="The review-queue entry.")
    watchlist: str = Field(title="Watchlist", description="The watchlist searched.")
    identity_id: str = Field(title="Identity", description="The candidate identity.")
    similarity: float = Field(title="Similarity", description="Mean similarity of the vote.")


class AlertConfirmed(_FaceEvent):
    """A reviewer confirmed a candidate: the only face event delivered outside the site."""

    kind: Literal["alert_confirmed"] = "alert_confirmed"
    candidate_id: str = Field(title="Candidate", description="The confirmed review entry.")
    watchlist: str = Field(title="Watchlist", description="The watchlist matched.")
    identity_id: str = Field(title="Identity", description="The confirmed identity.")
    display_name: str = Field(title="Name", description="The confirmed person's display name.")
    similarity: float = Field(title="Similarity", description="Similarity of the match.")
    confirmed_by: str = Field(title="Confirmed by", description="The reviewer.")


FaceEvent = TrackStarted | TrackEnded | WatchlistCandidate | AlertConfirmed
Event = Annotated[
    FaceEvent | LineCrossed | ZoneEntered | ZoneLeft | DwellExceeded,
    Field(discriminator="kind"),
]

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(payload: str | bytes) -> Event:
    """An event from its JSON form; unknown kinds and extra fields are refused."""
    return _ADAPTER.validate_json(payload)


def event_id_of(event: Event) -> str:
    """The face event's id, or a stable id derived from a counting event's content."""
    if isinstance(event, _FaceEvent):
        return event.event_id
    import hashlib

    digest = hashlib.sha256(event.model_dump_json().encode("utf-8")).hexdigest()
    return f"evt_{digest[:20]}"
