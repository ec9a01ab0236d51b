"""Per-camera counting settings: lines, zones, which classes count, and the object detector.

Points are pixels of the full camera picture (before any region-of-interest crop). The command
line writes the same settings in a short form, parsed by :meth:`CountingLine.from_spec` and
:meth:`CountingZone.from_spec`::

    --line "320,0,320,480:door"              x1,y1,x2,y2[:name[:in side]]
    --zone "0,0;200,0;200,200;0,200:till:60" x,y;x,y;...[:name[:loiter seconds]]

``to_spec`` writes the short form back (the console's edit form shows it), exactly.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from watchkeeper.core import COCO_CLASS_NAMES, ClassGroup
from watchkeeper.core.errors import ConfigError
from watchkeeper.core.objects import class_names_in

PointXY = tuple[float, float]

_ID_PATTERN = r"^[A-Za-z0-9_.-]+$"


class InSide(StrEnum):
    """Which side of a line counts as "in", looking from its start point to its end point."""

    LEFT = "left"
    RIGHT = "right"


class AnchorPoint(StrEnum):
    """Which point of an object's box has to cross a line or be inside a zone."""

    BOTTOM_CENTER = "bottom_center"
    CENTER = "center"
    TOP_CENTER = "top_center"


def _finite(point: PointXY, what: str) -> PointXY:
    if not all(math.isfinite(v) for v in point):
        raise ValueError(f"{what} must be finite numbers")
    return point


def _config_error(what: str, exc: ValidationError) -> ConfigError:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or what}: {e['msg']}" for e in exc.errors()
    )
    return ConfigError(f"malformed {what}: {problems}")


def _number_text(value: float) -> str:
    """A coordinate as short text that reads back to the same float ("320", "12.5")."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _numbers(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise ConfigError(f"{what}: expected numbers separated by commas, got {text!r}") from exc
    return values


class CountingLine(BaseModel):
    """A directed counting line segment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    line_id: str = Field(
        ...,
        min_length=1,
        max_length=64,
        pattern=_ID_PATTERN,
        title="Line name",
        description="Short name, unique within the camera; appears in every crossing event.",
    )
    start: PointXY = Field(..., title="Start", description="First end point (x, y) in pixels.")
    end: PointXY = Field(..., title="End", description="Second end point (x, y) in pixels.")
    in_side: InSide = Field(
        default=InSide.RIGHT,
        title="In side",
        description=(
            "Crossing towards this side counts as 'in', looking from start to end "
            "(on screen, y grows downwards)."
        ),
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        _finite(self.start, "start")
        _finite(self.end, "end")
        if math.dist(self.start, self.end) < 1e-6:
            raise ValueError(f"line {self.line_id!r} has zero length")
        return self

    @classmethod
    def from_spec(cls, spec: str, default_id: str = "line") -> CountingLine:
        """Parse ``x1,y1,x2,y2[:name[:in side]]`` (in side: left or right, default right).

        >>> CountingLine.from_spec("320,0,320,480:door").line_id
        'door'
        >>> CountingLine.from_spec("320,0,320,480:door:left").in_side.value
        'left'
        """
        coords, _, rest = spec.strip().partition(":")
        name, _, side = rest.partition(":")
        values = _numbers(coords, f"line {spec!r}")
        if len(values) != 4:
            raise ConfigError(f"line {spec!r}: expected x1,y1,x2,y2[:name] (4 numbers)")
        fields: dict[str, object] = {
            "line_id": name.strip() or default_id,
            "start": (values[0], values[1]),
            "end": (values[2], values[3]),
        }
        if side.strip():
            fields["in_side"] = side.strip().lower()
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise _config_error(f"line {spec!r}", exc) from exc

    def to_spec(self) -> str:
        """The short form :meth:`from_spec` reads.

        >>> CountingLine.from_spec("320,0,320,480.5:door").to_spec()
        '320,0,320,480.5:door:right'
        """
        coords = ",".join(_number_text(v) for v in (*self.start, *self.end))
        return f"{coords}:{self.line_id}:{self.in_side.value}"


class CountingZone(BaseModel):
    """A polygon zone with occupancy, entries, exits and dwell time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zone_id: str = Field(
        ...,
        min_length=1,
        max_length=64,
        pattern=_ID_PATTERN,
        title="Zone name",
        description="Short name, unique within the camera; appears in every zone event.",
    )
    polygon: tuple[PointXY, ...] = Field(
        ...,
        min_length=3,
        title="Polygon",
        description="Corner points (x, y) in pixels, in order; the polygon may not cross itself.",
    )
    loiter_after_s: float | None = Field(
        default=None,
        gt=0,
        title="Loitering threshold",
        description="Seconds inside after which a dwell_exceeded event is raised (once per visit).",
    )

    @field_validator("polygon")
    @classmethod
    def _finite_points(cls, polygon: tuple[PointXY, ...]) -> tuple[PointXY, ...]:
        for i, point in enumerate(polygon):
            _finite(point, f"point {i}")
        return polygon

    @classmethod
    def from_spec(cls, spec: str, default_id: str = "zone") -> CountingZone:
        """Parse ``x,y;x,y;x,y[;...][:name[:loiter seconds]]``.

        >>> CountingZone.from_spec("0,0;100,0;100,80:till:30").loiter_after_s
        30.0
        """
        points_text, _, rest = spec.strip().partition(":")
        name, _, loiter = rest.partition(":")
        points = []
        for part in points_text.split(";"):
            values = _numbers(part, f"zone {spec!r}")
            if len(values) != 2:
                raise ConfigError(f"zone {spec!r}: each point is x,y, got {part!r}")
            points.append((values[0], values[1]))
        try:
            loiter_s = float(loiter) if loiter.strip() else None
        except ValueError as exc:
            raise ConfigError(f"zone {spec!r}: loiter seconds must be a number") from exc
        try:
            return cls(
                zone_id=name.strip() or default_id, polygon=tuple(points), loiter_after_s=loiter_s
            )
        except ValidationError as exc:
            raise _config_error(f"zone {spec!r}", exc) from exc

    def to_spec(self) -> str:
        """The short form :meth:`from_spec` reads.

        >>> CountingZone.from_spec("0,0;100,0;100,80:till:30").to_spec()
        '0,0;100,0;100,80:till:30'
        """
        points = ";".join(f"{_number_text(x)},{_number_text(y)}" for x, y in self.polygon)
        loiter = "" if self.loiter_after_s is None else f":{_number_text(self.loiter_after_s)}"
        return f"{points}:{self.zone_id}{loiter}"


class CountingSettings(BaseModel):
    """Object counting for one camera. Anonymous: no face is recognised on this path."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lines: tuple[CountingLine, ...] = Field(
        default=(), title="Lines", description="Directed lines that count crossings per class."
    )
    zones: tuple[CountingZone, ...] = Field(
        default=(),
        title="Zones",
        description="Polygon zones with occupancy, entry/exit events and dwell time.",
    )
    classes: tuple[str, ...] = Field(
        default=("person", "vehicle", "animal"),
        min_length=1,
        title="Counted classes",
        description=(
            "Class groups (person, vehicle, animal) or COCO class names (e.g. 'bench', "
            "'suitcase') to detect and count."
        ),
    )
    detector: Literal["yolov4_tiny"] = Field(
        default="yolov4_tiny", title="Object detector", description="Object detector backend."
    )
    input_size: Literal[320, 416, 512, 608] = Field(
        default=416,
        title="Detector input size",
        description="Square network input in pixels: 320 is faster, 416 finds smaller objects.",
    )
    threads: int = Field(
        default=2, ge=1, le=64, title="Detector threads", description="CPU threads for detection."
    )
    confidence_threshold: float = Field(
        default=0.25,
        gt=0,
        lt=1,
        title="Detection confidence",
        description="Detections below this confidence are dropped.",
    )
    anchor: AnchorPoint = Field(
        default=AnchorPoint.BOTTOM_CENTER,
        title="Anchor point",
        description="The box point that crosses lines and sits in zones (feet for people).",
    )
    dead_band_px: float = Field(
        default=2.0,
        ge=0,
        title="Dead band",
        description="Pixels either side of a line or zone edge that count as on it, not across.",
    )
    animal_snapshots: bool = Field(
        default=True,
        title="Wildlife snapshots",
        description="Keep one picture (the most confident frame) of every animal track.",
    )

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, classes: tuple[str, ...]) -> tuple[str, ...]:
        groups = {g.value for g in ClassGroup if g is not ClassGroup.OTHER}
        unknown = [c for c in classes if c not in groups and c not in COCO_CLASS_NAMES]
        if unknown:
            raise ValueError(
                f"unknown classes {unknown}: use person, vehicle, animal or COCO class names"
            )
        return classes

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        for what, ids in (
            ("line", [line.line_id for line in self.lines]),
            ("zone", [zone.zone_id for zone in self.zones]),
        ):
            seen = {i for i in ids if ids.count(i) > 1}
            if seen:
                raise ValueError(f"{what} names must be unique, repeated: {sorted(seen)}")
        return self

    def class_names(self) -> frozenset[str]:
        """Every COCO class name this camera detects and counts."""
        groups = [c for c in self.classes if c in {g.value for g in ClassGroup}]
        names = {c for c in self.classes if c not in groups}
        return frozenset(names | set(class_names_in(groups)))
