"""Counting lines and zones in image pixels, with validation of what a config may hand us.

Coordinates are image pixels, x to the right and y *down*. Sides of a line are named as seen on
screen by someone standing on ``start`` and looking towards ``end``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from watchkeeper.core import Objects
from watchkeeper.core.errors import InvalidInputError

PointsArray = npt.NDArray[np.float64]
"""(n, 2) x, y pixels."""


class Anchor(StrEnum):
    """Which point of a box stands for the object when it is tested against lines and zones.

    The bottom centre is where a person or vehicle touches the ground, so it crosses a line drawn
    on the floor at the moment the object does.
    """

    BOTTOM_CENTER = "bottom_center"
    CENTER = "center"
    TOP_CENTER = "top_center"


class LineSide(StrEnum):
    """A side of a directed line, as seen looking from its start to its end on the image."""

    LEFT = "left"
    RIGHT = "right"


def anchor_points(objects: Objects, anchor: Anchor = Anchor.BOTTOM_CENTER) -> PointsArray:
    """(n, 2) anchor points of the boxes in pixels.

    >>> import numpy as np
    >>> o = Objects(np.array([[10, 20, 30, 60]]), np.array([0.9]), np.array([0]), ("person",))
    >>> anchor_points(o).tolist(), anchor_points(o, Anchor.CENTER).tolist()
    ([[20.0, 60.0]], [[20.0, 40.0]])
    """
    xyxy = objects.xyxy.astype(np.float64)
    x = (xyxy[:, 0] + xyxy[:, 2]) / 2.0
    if anchor is Anchor.BOTTOM_CENTER:
        y = xyxy[:, 3]
    elif anchor is Anchor.TOP_CENTER:
        y = xyxy[:, 1]
    else:
        y = (xyxy[:, 1] + xyxy[:, 3]) / 2.0
    return np.stack([x, y], axis=1)


def _point(value: Sequence[float], what: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} must be an (x, y) pair of numbers, got {value!r}") from exc
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidInputError(f"{what} must be finite, got ({x}, {y})")
    return (x, y)


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _on_segment(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def segments_intersect(
    p1: tuple[float, float],
    p2: tuple[float, float],
    q1: tuple[float, float],
    q2: tuple[float, float],
) -> bool:
    """Whether closed segments p1-p2 and q1-q2 share at least one point (touching counts)."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return (
        (d1 == 0 and _on_segment(p1, q1, q2))
        or (d2 == 0 and _on_segment(p2, q1, q2))
        or (d3 == 0 and _on_segment(q1, p1, p2))
        or (d4 == 0 and _on_segment(q2, p1, p2))
    )


def _check_id(value: str, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"a {what} needs a non-empty id")


@dataclass(frozen=True, slots=True)
class Line:
    """A directed counting line segment; crossing towards ``in_side`` counts as "in".

    >>> door = Line("door", start=(100, 300), end=(500, 300), in_side=LineSide.RIGHT)
    >>> door.side_px(np.array([[300.0, 350.0], [300.0, 250.0], [300.0, 300.0]])).tolist()
    [50.0, -50.0, 10.0]

    (Looking from (100, 300) to (500, 300) on screen, the right-hand side is below the line.)
    """

    line_id: str
    start: tuple[float, float]
    end: tuple[float, float]
    in_side: LineSide = LineSide.RIGHT

    def __post_init__(self) -> None:
        _check_id(self.line_id, "line")
        start = _point(self.start, f"line {self.line_id!r} start")
        end = _point(self.end, f"line {self.line_id!r} end")
        if math.hypot(end[0] - start[0], end[1] - start[1]) < 1e-6:
            raise InvalidInputError(f"line {self.line_id!r} has zero length")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        try:
            in_side = LineSide(self.in_side)
        except ValueError as exc:
            raise InvalidInputError(
                f"line {self.line_id!r} in_side must be 'left' or 'right', got {self.in_side!r}"
            ) from exc
        object.__setattr__(self, "in_side", in_side)

    @property
    def length_px(self) -> float:
        """Segment length in pixels."""
        return math.hypot(self.end[0] - self.start[0], self.end[1] - self.start[1])

    def side_px(self, points: PointsArray) -> npt.NDArray[np.float64]:
        """Signed distance of each point from the (infinite) line: positive on the "in" side."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        dx, dy = self.end[0] - self.start[0], self.end[1] - self.start[1]
        right = dx * (pts[:, 1] - self.start[1]) - dy * (pts[:, 0] - self.start[0])
        signed = right / self.length_px
        return signed if self.in_side is LineSide.RIGHT else -signed

    def segment_crossed_by(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """Whether the path from ``a`` to ``b`` touches the segment (not just its extension)."""
        return segments_intersect(a, b, self.start, self.end)


@dataclass(frozen=True, slots=True)
class Zone:
    """A simple (non-self-intersecting) polygon zone, with an optional loitering threshold.

    >>> z = Zone("lobby", ((0, 0), (100, 0), (100, 100), (0, 100)), loiter_after_s=30)
    >>> z.inside_px(np.array([[50.0, 50.0], [150.0, 50.0], [90.0, 50.0]])).tolist()
    [50.0, -50.0, 10.0]
    """

    zone_id: str
    polygon: tuple[tuple[float, float], ...]
    loiter_after_s: float | None = None

    def __post_init__(self) -> None:
        _check_id(self.zone_id, "zone")
        try:
            raw = list(self.polygon)
        except TypeError as exc:
            raise InvalidInputError(f"zone {self.zone_id!r} polygon must be a point list") from exc
        pts = [_point(p, f"zone {self.zone_id!r} point {i}") for i, p in enumerate(raw)]
        if len(pts) >= 2 and pts[0] == pts[-1]:
            pts = pts[:-1]  # an explicitly closed ring is fine
        if len(pts) < 3:
            raise InvalidInputError(
                f"zone {self.zone_id!r} needs at least 3 points, got {len(pts)}"
            )
        n = len(pts)
        for i in range(n):
            if pts[i] == pts[(i + 1) % n]:
                raise InvalidInputError(f"zone {self.zone_id!r} repeats point {i}")
        for i in range(n):
            for j in range(i + 1, n):
                if j == i + 1 or (i == 0 and j == n - 1):
                    continue  # neighbouring edges share a corner by design
                if segments_intersect(pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n]):
                    raise InvalidInputError(
                        f"zone {self.zone_id!r} is self-intersecting (edges {i} and {j} cross)"
                    )
        area2 = sum(_cross((0.0, 0.0), pts[i], pts[(i + 1) % n]) for i in range(n))
        if abs(area2) < 1e-6:
            raise InvalidInputError(f"zone {self.zone_id!r} has zero area")
        object.__setattr__(self, "polygon", tuple(pts))
        if self.loiter_after_s is not None and not (
            math.isfinite(self.loiter_after_s) and self.loiter_after_s > 0
        ):
            raise InvalidInputError(f"zone {self.zone_id!r} loiter_after_s must be positive")

    def inside_px(self, points: PointsArray) -> npt.NDArray[np.float64]:
        """Signed distance of each point to the boundary: positive inside, negative outside."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        poly = np.asarray(self.polygon, dtype=np.float64)
        a, b = poly, np.roll(poly, -1, axis=0)
        px, py = pts[:, 0:1], pts[:, 1:2]  # (n, 1) against (1, m) edges
        ax, ay, bx, by = a[:, 0], a[:, 1], b[:, 0], b[:, 1]
        # Even-odd ray casting to the right of each point.
        straddles = (ay > py) != (by > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = ax + (py - ay) * (bx - ax) / (by - ay)
        inside = (np.sum(straddles & (px < x_at), axis=1) % 2) == 1
        # Distance to the nearest edge.
        ex, ey = bx - ax, by - ay
        t = np.clip(((px - ax) * ex + (py - ay) * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        distance = np.min(np.hypot(px - (ax + t * ex), py - (ay + t * ey)), axis=1)
        return np.asarray(np.where(inside, distance, -distance), dtype=np.float64)
