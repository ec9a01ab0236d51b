"""Zone occupancy, entry/exit, dwell and loitering; overlapping zones stay independent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from watchkeeper.core import ClassGroup, Objects
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.zones.counting import ZoneMonitor
from watchkeeper.zones.events import DwellExceeded, ZoneEntered, ZoneLeft
from watchkeeper.zones.geometry import Zone

LABELS = ("person", "car", "dog")
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
LEFT = Zone("left", ((0, 0), (60, 0), (60, 100), (0, 100)), loiter_after_s=3.0)
RIGHT = Zone("right", ((40, 0), (100, 0), (100, 100), (40, 100)))


def frame(*rows: tuple[int, float, str]) -> Objects:
    """(track id, anchor x, class) rows at anchor y = 50."""
    if not rows:
        return Objects.empty(LABELS).with_columns(track_id=np.zeros(0, np.int64))
    return Objects(
        xyxy=np.array([[x - 5, 30, x + 5, 50] for _, x, _ in rows], np.float32),
        confidence=np.full(len(rows), 0.8),
        class_id=np.array([LABELS.index(c) for *_, c in rows]),
        labels=LABELS,
        track_id=np.array([t for t, *_ in rows]),
    )


def kinds(events: Sequence[object]) -> list[tuple[str, str]]:
    return [(type(e).__name__, e.zone_id) for e in events]  # type: ignore[attr-defined]


def test_overlapping_zones_are_independent() -> None:
    monitor = ZoneMonitor([LEFT, RIGHT], camera_id="cam")
    assert kinds(monitor.update(frame((1, 20, "person")), T0)) == [("ZoneEntered", "left")]
    # Into the overlap (40..60): enters "right", stays in "left".
    events = monitor.update(frame((1, 50, "person")), T0 + timedelta(seconds=1))
    assert kinds(events) == [("ZoneEntered", "right")]
    assert monitor.occupancy("left").total == 1 and monitor.occupancy("right").total == 1
    events = monitor.update(frame((1, 80, "person")), T0 + timedelta(seconds=2))
    assert kinds(events) == [("ZoneLeft", "left")]
    left_event = events[0]
    assert isinstance(left_event, ZoneLeft) and left_event.dwell_s == 2.0 and not left_event.lost
    assert monitor.occupancy("left").total == 0
    assert monitor.occupancy("right").count(ClassGroup.PERSON) == 1


def test_dwell_exceeded_fires_once_per_visit() -> None:
    monitor = ZoneMonitor([LEFT], camera_id="cam")
    events: list[object] = []
    for second in range(8):
        events += monitor.update(frame((3, 20, "dog")), T0 + timedelta(seconds=second))
    dwell = [e for e in events if isinstance(e, DwellExceeded)]
    assert len(dwell) == 1 and dwell[0].dwell_s == 3.0 and dwell[0].threshold_s == 3.0
    assert dwell[0].class_group is ClassGroup.ANIMAL
    # Leave and come back: a new visit may exceed again.
    monitor.update(frame((3, 90, "dog")), T0 + timedelta(seconds=9))
    again: list[object] = []
    for second in range(10, 14):
        again += monitor.update(frame((3, 20, "dog")), T0 + timedelta(seconds=second))
    assert [type(e) for e in again] == [ZoneEntered, DwellExceeded]


def test_a_track_lost_inside_leaves_as_lost() -> None:
    monitor = ZoneMonitor([LEFT], camera_id="cam", forget_after_s=1.0)
    monitor.update(frame((5, 20, "car")), T0)
    monitor.update(frame((5, 25, "car")), T0 + timedelta(seconds=0.5))
    assert monitor.update(frame(), T0 + timedelta(seconds=1.0)) == []
    assert monitor.occupancy("left").total == 1  # briefly unseen still counts as inside
    events = monitor.update(frame(), T0 + timedelta(seconds=2.0))
    assert len(events) == 1 and isinstance(events[0], ZoneLeft)
    assert events[0].lost and events[0].dwell_s == 0.5
    assert monitor.occupancy("left").total == 0


def test_the_boundary_keeps_the_state_and_close_flushes() -> None:
    monitor = ZoneMonitor([LEFT], camera_id="cam", dead_band_px=2.0)
    assert monitor.update(frame((1, 60, "person")), T0) == []  # first seen on the edge: outside
    assert kinds(monitor.update(frame((1, 50, "person")), T0 + timedelta(seconds=1))) == [
        ("ZoneEntered", "left")
    ]
    assert monitor.update(frame((1, 61, "person")), T0 + timedelta(seconds=2)) == []  # on edge
    assert monitor.occupancy("left").by_class == {"person": 1}
    closing = monitor.close(T0 + timedelta(seconds=3))
    assert len(closing) == 1 and closing[0].lost
    assert monitor.occupancy("left").total == 0


def test_bad_input_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="unique"):
        ZoneMonitor([LEFT, LEFT], camera_id="cam")
    with pytest.raises(InvalidInputError):
        ZoneMonitor([], camera_id="cam")
    monitor = ZoneMonitor([LEFT], camera_id="cam")
    with pytest.raises(InvalidInputError):
        monitor.occupancy("nope")
    with pytest.raises(InvalidInputError, match="track ids"):
        monitor.update(frame((1, 20, "person")).with_columns(track_id=None), T0)
