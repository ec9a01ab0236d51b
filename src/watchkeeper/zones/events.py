"""Counting events: what lines and zones report, ready to cross process boundaries.

Frozen pydantic models with a ``kind`` tag, so the events layer can put them in one union with
the other ``Event`` kinds. They name a track and a class, never a person: counting is anonymous.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from watchkeeper.core import ClassGroup


class Direction(StrEnum):
    """Which way a track crossed a directed line."""

    IN = "in"
    OUT = "out"


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("event times must be timezone-aware (UTC)")
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]


class _CountingEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    camera_id: str = Field(title="Camera", description="The camera whose frames produced it.")
    track_id: int = Field(title="Track", description="Anonymous track number within the camera.")
    class_name: str = Field(title="Class", description="Detector class, e.g. 'person', 'car'.")
    class_group: ClassGroup = Field(title="Class group", description="person/vehicle/animal/other")
    at: UtcDatetime = Field(title="At", description="Capture time of the frame (UTC).")


class LineCrossed(_CountingEvent):
    """A track's anchor point moved from one side of a directed line to the other."""

    kind: Literal["line_crossed"] = "line_crossed"
    line_id: str = Field(title="Line", description="Which counting line was crossed.")
    direction: Direction = Field(title="Direction", description="'in' or 'out' for this line.")
    anchor_xy: tuple[float, float] = Field(
        title="Anchor", description="Where the anchor point was (pixels) when the crossing counted."
    )


class ZoneEntered(_CountingEvent):
    """A track's anchor point came inside a zone."""

    kind: Literal["zone_entered"] = "zone_entered"
    zone_id: str = Field(title="Zone", description="Which zone was entered.")


class ZoneLeft(_CountingEvent):
    """A track left a zone, or was lost while inside it."""

    kind: Literal["zone_left"] = "zone_left"
    zone_id: str = Field(title="Zone", description="Which zone was left.")
    dwell_s: float = Field(ge=0, title="Dwell", description="Seconds spent inside on this visit.")
    lost: bool = Field(
        default=False,
        title="Lost",
        description="True when the track vanished inside the zone instead of walking out.",
    )


class DwellExceeded(_CountingEvent):
    """A track has stayed inside a zone longer than its loitering threshold (once per visit)."""

    kind: Literal["dwell_exceeded"] = "dwell_exceeded"
    zone_id: str = Field(title="Zone", description="The zone being loitered in.")
    dwell_s: float = Field(ge=0, title="Dwell", description="Seconds inside so far.")
    threshold_s: float = Field(gt=0, title="Threshold", description="The zone's loitering limit.")


ZoneEvent = ZoneEntered | ZoneLeft | DwellExceeded
CountingEvent = Annotated[LineCrossed | ZoneEvent, Field(discriminator="kind")]
