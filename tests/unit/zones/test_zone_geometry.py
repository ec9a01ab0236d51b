"""Lines and zones: sides, containment and validation of malformed config."""

from __future__ import annotations

import math

import numpy as np
import pytest

from watchkeeper.core import Objects
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.zones.geometry import (
    Anchor,
    Line,
    LineSide,
    Zone,
    anchor_points,
    segments_intersect,
)


def test_line_sides_follow_in_side() -> None:
    # Looking from (0, 100) up to (0, 0) on screen, the right-hand side is x > 0.
    right = Line("l", start=(0, 100), end=(0, 0), in_side=LineSide.RIGHT)
    left = Line("l", start=(0, 100), end=(0, 0), in_side=LineSide.LEFT)
    pts = np.array([[10.0, 50.0], [-4.0, 50.0], [0.0, 50.0]])
    assert right.side_px(pts).tolist() == [10.0, -4.0, 0.0]
    assert left.side_px(pts).tolist() == [-10.0, 4.0, 0.0]


def test_segment_crossing_respects_the_segment_ends() -> None:
    line = Line("l", start=(50, 0), end=(50, 100))
    assert line.segment_crossed_by((40, 50), (60, 50))
    assert line.segment_crossed_by((40, 100), (60, 100))  # touching the end counts
    assert not line.segment_crossed_by((40, 150), (60, 150))  # passes beyond the end


def test_segments_intersect_cases() -> None:
    assert segments_intersect((0, 0), (2, 2), (0, 2), (2, 0))
    assert not segments_intersect((0, 0), (1, 0), (0, 1), (1, 1))
    assert segments_intersect((0, 0), (2, 0), (1, 0), (3, 0))  # collinear overlap
    assert not segments_intersect((0, 0), (1, 0), (2, 0), (3, 0))  # collinear, apart


def test_zone_inside_for_a_concave_polygon() -> None:
    # A "U" shape: the notch between x=40..60 above y=50 is outside.
    u = Zone("u", ((0, 0), (40, 0), (40, 50), (60, 50), (60, 0), (100, 0), (100, 100), (0, 100)))
    depth = u.inside_px(np.array([[20.0, 20.0], [50.0, 20.0], [50.0, 80.0], [120.0, 50.0]]))
    assert (depth > 0).tolist() == [True, False, True, False]
    assert math.isclose(depth[1], -10.0)


def test_a_closed_ring_is_accepted() -> None:
    z = Zone("z", ((0, 0), (10, 0), (10, 10), (0, 0)))
    assert len(z.polygon) == 3


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Zone("z", ((0, 0), (10, 0))), "at least 3 points"),
        (lambda: Zone("z", ((0, 0), (10, 0), (10, 10), (0, 10), (0, 10))), "repeats point"),
        (lambda: Zone("z", ((0, 0), (10, 10), (10, 0), (0, 10))), "self-intersecting"),
        (lambda: Zone("z", ((0, 0), (5, 5), (10, 10))), "zero area"),
        (lambda: Zone("z", ((0, 0), (10, float("nan")), (10, 10))), "finite"),
        (lambda: Zone("z", ((0, 0), ("a", 1), (10, 10))), "pair of numbers"),
        (lambda: Zone("z", ((0, 0), (1, 2, 3), (10, 10))), "pair of numbers"),
        (lambda: Zone("", ((0, 0), (10, 0), (10, 10))), "non-empty id"),
        (lambda: Zone("z", ((0, 0), (10, 0), (10, 10)), loiter_after_s=0), "loiter_after_s"),
        (lambda: Zone("z", 5), "point list"),  # type: ignore[arg-type]
        (lambda: Line("l", (3, 3), (3, 3)), "zero length"),
        (lambda: Line("l", (0, float("inf")), (3, 3)), "finite"),
        (lambda: Line(" ", (0, 0), (3, 3)), "non-empty id"),
        (lambda: Line("l", (0, 0), (3, 3), in_side="up"), "up"),  # type: ignore[arg-type]
    ],
)
def test_malformed_config_is_rejected(build: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        build()  # type: ignore[operator]


def test_anchor_points() -> None:
    o = Objects(np.array([[0, 10, 20, 50]]), [0.9], [0], ("person",))
    assert anchor_points(o).tolist() == [[10.0, 50.0]]
    assert anchor_points(o, Anchor.CENTER).tolist() == [[10.0, 30.0]]
    assert anchor_points(o, Anchor.TOP_CENTER).tolist() == [[10.0, 10.0]]
