"""Per-camera settings: where frames come from and which parts of the picture may be analysed.

This lives in ``config`` (the bottom layer) rather than in ``sources`` so that the one settings
tree can hold a list of cameras; ``watchkeeper.sources.open_source`` turns it into a source.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from watchkeeper.config.counting import CountingSettings

PointXY = tuple[float, float]
"""A point in pixels of the full camera picture: (x, y)."""


class SourceKind(StrEnum):
    """How a camera's ``source`` is read."""

    FILE = "file"
    FOLDER = "folder"
    STREAM = "stream"
    WEBCAM = "webcam"


class RtspTransport(StrEnum):
    """RTSP lower transport; TCP survives lossy networks and NAT, UDP has less latency."""

    TCP = "tcp"
    UDP = "udp"


STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://")


class ReconnectSettings(BaseModel):
    """Exponential backoff between attempts to reopen a live stream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_delay_s: float = Field(
        default=0.5,
        gt=0,
        title="First delay",
        description="Seconds to wait before the first reconnect attempt.",
    )
    multiplier: float = Field(
        default=2.0,
        ge=1.0,
        title="Backoff multiplier",
        description="Each failed attempt multiplies the delay by this factor.",
    )
    max_delay_s: float = Field(
        default=30.0,
        gt=0,
        title="Longest delay",
        description="The delay never grows beyond this many seconds.",
    )
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        title="Attempts before giving up",
        description=(
            "Consecutive failed attempts after which the stream is reported lost; "
            "empty means keep trying for ever. A delivered frame resets the count."
        ),
    )

    def delay_s(self, attempt: int) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (1-based).

        >>> ReconnectSettings(initial_delay_s=1, multiplier=2, max_delay_s=5).delay_s(4)
        5.0
        """
        return float(min(self.max_delay_s, self.initial_delay_s * self.multiplier ** (attempt - 1)))


class CameraSettings(BaseModel):
    """One camera: its source, how often to analyse it, and where analysis is allowed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str = Field(
        ...,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        title="Camera id",
        description="Short stable name; becomes the source id of every frame and event.",
    )
    source: str = Field(
        ...,
        min_length=1,
        title="Source",
        description=(
            "A video file path, an image folder path, an rtsp://, rtsps://, http(s):// or "
            "rtmp:// URL, or a local webcam number such as 0."
        ),
    )
    kind: SourceKind | None = Field(
        default=None,
        title="Source kind",
        description="How to read the source; empty means guess from the source text.",
    )
    fps_cap: float | None = Field(
        default=None,
        gt=0,
        title="Frame-rate cap",
        description="Analyse at most this many frames per second; extra frames are skipped.",
    )
    detection_interval: int = Field(
        default=1,
        ge=1,
        le=100,
        title="Detection interval",
        description=(
            "Run the detector on every Nth delivered frame and let the tracker predict boxes "
            "on the frames in between."
        ),
    )
    folder_fps: float | None = Field(
        default=None,
        gt=0,
        title="Image folder frame rate",
        description="For image folders: frames per second the images were taken at, if known.",
    )
    roi_xyxy: tuple[float, float, float, float] | None = Field(
        default=None,
        title="Region of interest (rectangle)",
        description="Only this rectangle (x1, y1, x2, y2 pixels) is analysed.",
    )
    roi_polygon: tuple[PointXY, ...] | None = Field(
        default=None,
        title="Region of interest (polygon)",
        description="Only the inside of this polygon (pixel points) is analysed.",
    )
    privacy_masks: tuple[tuple[PointXY, ...], ...] = Field(
        default=(),
        title="Privacy masks",
        description=(
            "Polygons (pixel points) blanked in every frame before any analysis: nothing "
            "inside them is ever detected, recognised or stored."
        ),
    )
    rtsp_transport: RtspTransport = Field(
        default=RtspTransport.TCP,
        title="RTSP transport",
        description="Lower transport for rtsp:// and rtsps:// sources.",
    )
    open_timeout_s: float = Field(
        default=10.0,
        gt=0,
        title="Open timeout",
        description="Seconds to wait for a stream to open before the attempt counts as failed.",
    )
    read_timeout_s: float = Field(
        default=5.0,
        gt=0,
        title="Read timeout",
        description="A stream that delivers no data for this many seconds is stalled and reopened.",
    )
    reconnect: ReconnectSettings = Field(
        default=ReconnectSettings(),
        title="Reconnect",
        description="Backoff between attempts to reopen a lost stream.",
    )
    counting: CountingSettings | None = Field(
        default=None,
        title="Object counting",
        description=(
            "Lines and zones counting people, vehicles and animals on this camera "
            "(anonymous); empty means no counting."
        ),
    )

    @model_validator(mode="after")
    def _check_regions(self) -> Self:
        if self.roi_xyxy is not None and self.roi_polygon is not None:
            raise ValueError("give either roi_xyxy or roi_polygon, not both")
        if self.roi_xyxy is not None:
            x1, y1, x2, y2 = self.roi_xyxy
            if not (x2 > x1 and y2 > y1):
                raise ValueError("roi_xyxy needs x2 > x1 and y2 > y1")
        if self.roi_polygon is not None and len(self.roi_polygon) < 3:
            raise ValueError("roi_polygon needs at least 3 points")
        for i, mask in enumerate(self.privacy_masks):
            if len(mask) < 3:
                raise ValueError(f"privacy mask {i} needs at least 3 points")
        return self

    @property
    def resolved_kind(self) -> SourceKind:
        """``kind`` if given, else a guess: URL scheme, digits (webcam), folder or file."""
        if self.kind is not None:
            return self.kind
        text = self.source.strip()
        if text.lower().startswith(STREAM_SCHEMES):
            return SourceKind.STREAM
        if text.isdigit():
            return SourceKind.WEBCAM
        if text.endswith(("/", "\\")):
            return SourceKind.FOLDER
        return SourceKind.FOLDER if Path(text).is_dir() else SourceKind.FILE
