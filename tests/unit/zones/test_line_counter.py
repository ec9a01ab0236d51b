"""Line crossing counts: boundary cases, stops on the line, jitter, leaving the frame."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from watchkeeper.core import ClassGroup, Objects
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.zones.counting import LineCounter
from watchkeeper.zones.events import Direction, LineCrossed
from watchkeeper.zones.geometry import Line, LineSide

LABELS = ("person", "car", "dog", "cat", "teddy bear")
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
# Vertical line at x = 50 from y = 0 to 100; "in" is towards larger x.
GATE = Line("gate", start=(50, 100), end=(50, 0), in_side=LineSide.RIGHT)


def frame(*rows: tuple[int, float, float, str]) -> Objects:
    """Objects from (track id, anchor x, anchor y, class) rows; boxes are 10 x 20 px."""
    if not rows:
        return Objects.empty(LABELS).with_columns(track_id=np.zeros(0, np.int64))
    return Objects(
        xyxy=np.array([[x - 5, y - 20, x + 5, y] for _, x, y, _ in rows], np.float32),
        confidence=np.full(len(rows), 0.9),
        class_id=np.array([LABELS.index(c) for *_, c in rows]),
        labels=LABELS,
        track_id=np.array([t for t, *_ in rows]),
    )


def run(counter: LineCounter, xs: Sequence[float], *, track: int = 1, cls: str = "person",
        y: float = 50.0, step_s: float = 0.1) -> list[LineCrossed]:  # fmt: skip
    events: list[LineCrossed] = []
    for i, x in enumerate(xs):
        events += counter.update(frame((track, x, y, cls)), T0 + timedelta(seconds=i * step_s))
    return events


def test_plain_crossings_in_both_directions() -> None:
    counter = LineCounter([GATE], camera_id="cam")
    events = run(counter, [20, 35, 45, 55, 70, 60, 40, 20])
    assert [e.direction for e in events] == [Direction.IN, Direction.OUT]
    assert events[0].at == T0 + timedelta(seconds=0.3)
    assert events[0].class_group is ClassGroup.PERSON and events[0].camera_id == "cam"
    assert events[0].anchor_xy == (55.0, 50.0)
    totals = counter.totals("gate")
    assert totals.count(Direction.IN) == 1 and totals.count(Direction.OUT) == 1
    assert totals.count(Direction.IN, ClassGroup.VEHICLE) == 0


def test_a_point_exactly_on_the_line_keeps_the_previous_side() -> None:
    counter = LineCounter([GATE], camera_id="cam", dead_band_px=0.0)
    per_frame = [
        counter.update(frame((1, x, 50, "person")), T0 + timedelta(seconds=i))
        for i, x in enumerate([40, 50, 50, 60])
    ]
    assert [len(e) for e in per_frame] == [0, 0, 0, 1]
    assert per_frame[3][0].direction is Direction.IN


def test_touching_the_line_and_going_back_counts_nothing() -> None:
    counter = LineCounter([GATE], camera_id="cam", dead_band_px=0.0)
    assert run(counter, [40, 50, 40, 50, 40]) == []


def test_an_object_that_stops_on_the_line_counts_once() -> None:
    counter = LineCounter([GATE], camera_id="cam", dead_band_px=2.0)
    jitter_on_line = [50 + d for d in (0, 1.5, -1.5, 2.0, -2.0, 0.5) * 5]
    events = run(counter, [30, 40, *jitter_on_line, 60, 80])
    assert [e.direction for e in events] == [Direction.IN]


def test_jitter_larger_than_the_dead_band_counts_each_strict_change() -> None:
    # Documented behaviour: only moves between strict sides count, so the band must cover the
    # detector's jitter; with a 1 px band, +-3 px flicker is a series of real side changes.
    counter = LineCounter([GATE], camera_id="cam", dead_band_px=1.0)
    events = run(counter, [40, 53, 47, 53])
    assert [e.direction for e in events] == [Direction.IN, Direction.OUT, Direction.IN]
    wide = LineCounter([GATE], camera_id="cam", dead_band_px=4.0)
    assert run(wide, [40, 53, 47, 53]) == []


def test_passing_beyond_the_end_of_the_segment_is_not_a_crossing() -> None:
    counter = LineCounter([GATE], camera_id="cam")
    assert run(counter, [20, 40, 60, 80], y=130) == []


def test_leaving_the_frame_forgets_the_track_without_counting() -> None:
    counter = LineCounter([GATE], camera_id="cam", forget_after_s=1.0)
    run(counter, [20, 30, 40])  # track 1 walks towards the line, then vanishes
    later = T0 + timedelta(seconds=5)
    assert counter.update(frame(), later) == []
    # The same id re-used on the far side after the memory expired is a new track: no count.
    assert counter.update(frame((1, 70, 50, "person")), later + timedelta(seconds=0.1)) == []
    assert counter.totals("gate").count(Direction.IN) == 0


def test_a_brief_occlusion_keeps_the_side() -> None:
    counter = LineCounter([GATE], camera_id="cam", forget_after_s=2.0)
    counter.update(frame((4, 30, 50, "car")), T0)
    counter.update(frame(), T0 + timedelta(seconds=0.5))
    events = counter.update(frame((4, 70, 50, "car")), T0 + timedelta(seconds=1.0))
    assert [(e.track_id, e.direction, e.class_group) for e in events] == [
        (4, Direction.IN, ClassGroup.VEHICLE)
    ]


def test_a_long_stretch_with_no_objects() -> None:
    counter = LineCounter([GATE], camera_id="cam")
    run(counter, [20, 30])
    for i in range(3000):  # five minutes at 10 fps
        assert counter.update(frame(), T0 + timedelta(seconds=1 + i / 10)) == []
    assert counter._memory == {}  # stale tracks were forgotten, nothing leaks
    t = T0 + timedelta(seconds=400)
    counter.update(frame((9, 70, 50, "dog")), t)
    events = counter.update(frame((9, 30, 50, "dog")), t + timedelta(seconds=0.1))
    assert [e.direction for e in events] == [Direction.OUT]


def test_tracks_are_independent_and_classes_are_voted() -> None:
    counter = LineCounter([GATE], camera_id="cam")
    t = T0
    for cls in ("dog", "dog", "cat"):
        counter.update(frame((1, 30, 50, cls), (2, 70, 80, "person")), t)
        t += timedelta(seconds=0.1)
    events = counter.update(frame((1, 70, 50, "cat"), (2, 30, 80, "person")), t)
    got = sorted((e.track_id, e.class_name, e.direction) for e in events)
    assert got == [(1, "dog", Direction.IN), (2, "person", Direction.OUT)]
    assert dict(counter.totals("gate").inbound) == {"dog": 1}


def test_class_filter_and_several_lines() -> None:
    other = Line("other", start=(80, 0), end=(80, 100))
    counter = LineCounter([GATE, other], camera_id="cam", classes={"person"})
    t = T0
    for x in (30, 60, 90):
        events = counter.update(frame((1, x, 50, "person"), (2, x, 20, "teddy bear")), t)
        t += timedelta(seconds=0.1)
        assert all(e.track_id == 1 for e in events)
    assert counter.totals("gate").count(Direction.IN) == 1
    # Line "other" runs top to bottom with the default in side (right = smaller x).
    assert counter.totals("other").count(Direction.OUT) == 1


def test_bad_input_is_rejected() -> None:
    counter = LineCounter([GATE], camera_id="cam")
    untracked = frame((1, 30, 50, "person")).with_columns(track_id=None)
    with pytest.raises(InvalidInputError, match="track ids"):
        counter.update(untracked, T0)
    with pytest.raises(InvalidInputError, match="once per frame"):
        counter.update(frame((1, 30, 50, "person"), (1, 60, 50, "person")), T0)
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        counter.update(frame(), datetime(2024, 1, 1))
    with pytest.raises(InvalidInputError):
        counter.totals("nope")
    with pytest.raises(InvalidInputError, match="unique"):
        LineCounter([GATE, GATE], camera_id="cam")
    with pytest.raises(InvalidInputError):
        LineCounter([], camera_id="cam")
    with pytest.raises(InvalidInputError):
        LineCounter([GATE], camera_id="cam", dead_band_px=float("nan"))
    with pytest.raises(InvalidInputError):
        LineCounter([GATE], camera_id="cam", classes=[])
