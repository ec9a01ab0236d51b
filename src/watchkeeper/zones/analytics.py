"""Counts over time, CSV export and presence heat maps.

Time series are built from counting events after the fact, so any event store can feed them;
buckets with no events are filled with zeros between the first and last bucket, because a gap in
a count series means "nobody", not "unknown".
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from watchkeeper.core import ClassGroup, Image, Objects
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.zones.events import Direction, DwellExceeded, LineCrossed, ZoneEntered, ZoneLeft
from watchkeeper.zones.geometry import Anchor, anchor_points

AnyCountingEvent = LineCrossed | ZoneEntered | ZoneLeft | DwellExceeded


class Bucket(StrEnum):
    """Width of one time-series bucket."""

    MINUTE = "minute"
    HOUR = "hour"

    @property
    def width(self) -> timedelta:
        """The bucket's length."""
        return timedelta(minutes=1) if self is Bucket.MINUTE else timedelta(hours=1)

    def floor(self, at: datetime) -> datetime:
        """The start of the bucket holding ``at`` (UTC)."""
        at = at.astimezone(UTC)
        if self is Bucket.MINUTE:
            return at.replace(second=0, microsecond=0)
        return at.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class CountRow:
    """How many events of one kind, place, class group and direction fell in one bucket."""

    bucket_start_at: datetime
    camera_id: str
    place_id: str
    event_kind: str
    class_group: ClassGroup
    direction: Direction | None
    count: int


@dataclass(frozen=True, slots=True)
class CountSeries:
    """A zero-filled count time series, rows sorted by bucket then key."""

    bucket: Bucket
    rows: tuple[CountRow, ...]

    def total(
        self,
        *,
        event_kind: str | None = None,
        place_id: str | None = None,
        class_group: ClassGroup | None = None,
        direction: Direction | None = None,
    ) -> int:
        """Sum over the rows that match every given filter."""
        return sum(
            r.count
            for r in self.rows
            if (event_kind is None or r.event_kind == event_kind)
            and (place_id is None or r.place_id == place_id)
            and (class_group is None or r.class_group is class_group)
            and (direction is None or r.direction is direction)
        )


def _place_and_direction(event: AnyCountingEvent) -> tuple[str, Direction | None]:
    if isinstance(event, LineCrossed):
        return event.line_id, event.direction
    return event.zone_id, None


def count_series(
    events: Iterable[AnyCountingEvent],
    bucket: Bucket = Bucket.MINUTE,
    *,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
) -> CountSeries:
    """Bucketed counts of counting events, zero-filled from ``start_at`` (or the first event) to
    ``end_at`` (or the last event).

    >>> from datetime import datetime, UTC
    >>> e = LineCrossed(camera_id="c", line_id="door", track_id=1, class_name="dog",
    ...     class_group=ClassGroup.ANIMAL, direction=Direction.IN, anchor_xy=(1, 2),
    ...     at=datetime(2024, 5, 1, 9, 0, 30, tzinfo=UTC))
    >>> s = count_series([e], Bucket.MINUTE, end_at=datetime(2024, 5, 1, 9, 2, tzinfo=UTC))
    >>> [r.count for r in s.rows]
    [1, 0, 0]
    """
    bucket = Bucket(bucket)
    counts: Counter[tuple[datetime, str, str, str, ClassGroup, Direction | None]] = Counter()
    keys: set[tuple[str, str, str, ClassGroup, Direction | None]] = set()
    for event in events:
        place, direction = _place_and_direction(event)
        key = (event.camera_id, place, event.kind, event.class_group, direction)
        keys.add(key)
        counts[(bucket.floor(event.at), *key)] += 1
    starts = [k[0] for k in counts]
    for at in (start_at, end_at):
        if at is not None and (at.tzinfo is None or at.utcoffset() is None):
            raise InvalidInputError("series bounds must be timezone-aware (UTC)")
    first = bucket.floor(start_at) if start_at else (min(starts) if starts else None)
    last = bucket.floor(end_at) if end_at else (max(starts) if starts else None)
    if first is None or last is None or not keys:
        return CountSeries(bucket=bucket, rows=())
    if last < first:
        raise InvalidInputError("end_at lies before start_at")
    n_buckets = int((last - first) / bucket.width) + 1
    if n_buckets > 1_000_000:
        raise InvalidInputError("the series would have more than a million buckets")

    def order(key: tuple[str, str, str, ClassGroup, Direction | None]) -> tuple[str, ...]:
        return (key[0], key[1], key[2], key[3].value, key[4].value if key[4] else "")

    rows = [
        CountRow(start, *key, count=counts.get((start, *key), 0))
        for start in (first + i * bucket.width for i in range(n_buckets))
        for key in sorted(keys, key=order)
    ]
    return CountSeries(bucket=bucket, rows=tuple(rows))


CSV_COLUMNS = (
    "bucket_start_at",
    "bucket",
    "camera_id",
    "place_id",
    "event_kind",
    "class_group",
    "direction",
    "count",
)


def write_counts_csv(series: CountSeries, out: TextIO | Path) -> None:
    """Write the series as CSV (ISO 8601 UTC times, one row per bucket and key)."""
    if isinstance(out, Path):
        with out.open("w", newline="", encoding="utf-8") as handle:
            write_counts_csv(series, handle)
        return
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in series.rows:
        writer.writerow(
            [
                r.bucket_start_at.astimezone(UTC).isoformat(),
                series.bucket.value,
                r.camera_id,
                r.place_id,
                r.event_kind,
                r.class_group.value,
                r.direction.value if r.direction else "",
                r.count,
            ]
        )


def counts_csv_text(series: CountSeries) -> str:
    """The CSV as a string (for HTTP responses)."""
    buffer = io.StringIO()
    write_counts_csv(series, buffer)
    return buffer.getvalue()


class PresenceHeatmap:
    """Where objects were, accumulated over frames on a coarse grid, rendered as a PNG.

    Each frame adds one hit per object at its anchor point, so the map shows presence time
    (object-frames), not counts of distinct objects.
    """

    def __init__(
        self,
        resolution_wh: tuple[int, int],
        *,
        cell_px: int = 4,
        anchor: Anchor = Anchor.BOTTOM_CENTER,
    ) -> None:
        width, height = resolution_wh
        if width < 1 or height < 1 or cell_px < 1:
            raise InvalidInputError("heat map needs a positive resolution and cell size")
        self.resolution_wh = (int(width), int(height))
        self.cell_px = int(cell_px)
        self.anchor = Anchor(anchor)
        self._hits = np.zeros(
            (math.ceil(height / cell_px), math.ceil(width / cell_px)), dtype=np.float64
        )
        self.frames = 0

    @property
    def hits(self) -> npt.NDArray[np.float64]:
        """(rows, cols) object-frames per grid cell (a copy)."""
        return self._hits.copy()

    def add(self, objects: Objects) -> None:
        """Accumulate one frame's objects."""
        self.frames += 1
        if not len(objects):
            return
        points = anchor_points(objects, self.anchor)
        width, height = self.resolution_wh
        x = np.clip(points[:, 0], 0, width - 1e-6) // self.cell_px
        y = np.clip(points[:, 1], 0, height - 1e-6) // self.cell_px
        np.add.at(self._hits, (y.astype(np.int64), x.astype(np.int64)), 1.0)

    def render(self, background: Image | None = None, *, opacity: float = 0.6) -> Image:
        """An RGB image of the map at full resolution, over ``background`` if given."""
        import cv2

        width, height = self.resolution_wh
        smooth = cv2.GaussianBlur(self._hits.astype(np.float32), (0, 0), sigmaX=2.0)
        scaled = np.log1p(smooth)
        peak = float(scaled.max())
        level = (scaled / peak * 255.0) if peak > 0 else scaled
        grey = cv2.resize(level.astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
        colour = cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
        if background is None:
            return np.asarray(colour, dtype=np.uint8)
        if background.shape != (height, width, 3) or background.dtype != np.uint8:
            raise InvalidInputError(f"background must be a ({height}, {width}, 3) uint8 RGB image")
        # Blend only where there was presence, so the scene stays readable elsewhere.
        weight = (grey.astype(np.float32) / 255.0 * opacity)[..., None]
        blended = background.astype(np.float32) * (1 - weight) + colour.astype(np.float32) * weight
        return np.asarray(np.clip(blended, 0, 255), dtype=np.uint8)

    def png_bytes(self, background: Image | None = None) -> bytes:
        """The rendered map, PNG encoded."""
        import cv2

        ok, encoded = cv2.imencode(".png", cv2.cvtColor(self.render(background), cv2.COLOR_RGB2BGR))
        if not ok:
            raise InvalidInputError("PNG encoding of the heat map failed")
        return bytes(encoded.tobytes())

    def save_png(self, path: Path, background: Image | None = None) -> None:
        """Write the rendered map to ``path``."""
        path.write_bytes(self.png_bytes(background))
