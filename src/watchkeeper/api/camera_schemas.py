"""Request and response bodies of the camera routes (apart from ``schemas`` to keep it short)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from watchkeeper.config.cameras import SourceKind
from watchkeeper.config.counting import CountingSettings


class _Dto(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraIn(_Dto):
    camera_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Short stable name; becomes the source of every sighting and event.",
    )
    name: str = Field(min_length=1, max_length=100, description="What people call it.")
    source: str = Field(
        min_length=1,
        max_length=2000,
        description="Video file, image folder, rtsp:// / http(s):// URL or webcam number.",
    )
    kind: SourceKind | None = Field(default=None, description="Empty: guessed from the source.")
    fps_cap: float | None = Field(default=None, gt=0, le=120)
    detection_interval: int | None = Field(default=None, ge=1, le=100)
    watchlist: str | None = Field(
        default=None, max_length=64, description="Match faces against it; empty: no recognition."
    )
    purpose: str = Field(default="", max_length=500, description="Required with a watchlist.")
    enabled: bool = True
    loop: bool = Field(default=False, description="Play a video file again when it ends.")
    counting: CountingSettings | None = Field(
        default=None,
        description="Lines and zones counting people, vehicles and animals (anonymous).",
    )


class CameraPatch(_Dto):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    source: str | None = Field(default=None, min_length=1, max_length=2000)
    fps_cap: float | None = Field(default=None, gt=0, le=120)
    detection_interval: int | None = Field(default=None, ge=1, le=100)
    watchlist: str | None = Field(
        default=None, max_length=64, description="A name to match against; '' turns it off."
    )
    purpose: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None
    loop: bool | None = None
    counting: CountingSettings | None = Field(
        default=None,
        description=(
            "New counting settings (lines, zones, classes...), replacing the old ones whole; "
            "null turns counting off; left out, counting stays as it is."
        ),
    )

    @property
    def counting_off(self) -> bool:
        """Whether the body asks to turn counting off (``"counting": null``, not left out)."""
        return "counting" in self.model_fields_set and self.counting is None


class CameraStatusOut(_Dto):
    camera_id: str
    state: str = Field(description="starting, running, reconnecting, stopped or failed.")
    frames: int
    fps: float
    faces_in_view: int
    last_error: str | None
    updated_at: datetime
    has_picture: bool


class CameraOut(_Dto):
    camera_id: str
    name: str
    source: str = Field(description="Any user:password in a URL is shown as ***.")
    kind: str
    fps_cap: float | None
    detection_interval: int
    watchlist: str | None
    purpose: str
    enabled: bool
    loop: bool
    owner: str = Field(description="Who the camera runs for (who last added or enabled it).")
    counting: CountingSettings | None
    created_at: datetime
    updated_at: datetime
    status: CameraStatusOut


def validation_text(exc: ValidationError) -> str:
    """The first problem of a validation error, as one readable line."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "value"
    return f"{where}: {err.get('msg', 'invalid')}"
