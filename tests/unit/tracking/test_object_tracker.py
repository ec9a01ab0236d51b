"""ObjectTracker: BoxTracker on Objects, keyed by class group, with duplicate folding."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.core import COCO_CLASS_NAMES, Objects
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.tracking.base import UNTRACKED
from watchkeeper.tracking.byte_tracker import BoxTrackerSettings
from watchkeeper.tracking.objects import (
    ObjectTracker,
    ObjectTrackerSettings,
    TrackKey,
    tracked_only,
)

LABELS = COCO_CLASS_NAMES


def objs(*rows: tuple[str, float, float, float, float, float]) -> Objects:
    """Rows of (class, x1, y1, x2, y2, confidence)."""
    if not rows:
        return Objects.empty(LABELS)
    return Objects(
        xyxy=np.array([r[1:5] for r in rows], np.float32),
        confidence=np.array([r[5] for r in rows], np.float32),
        class_id=np.array([LABELS.index(r[0]) for r in rows]),
        labels=LABELS,
    )


def test_a_moving_car_keeps_one_id_and_waits_for_confirmation() -> None:
    tracker = ObjectTracker()
    ids = []
    for i in range(8):
        x = 10.0 + 12 * i
        out = tracker.update(objs(("car", x, 100, x + 80, 150, 0.8)), i)
        ids.append(int(out.track_id[0]))  # type: ignore[index]
    assert ids[0] == UNTRACKED  # tentative on its first sighting
    assert len(set(ids[1:])) == 1 and ids[1] != UNTRACKED


def test_wavering_class_within_a_group_keeps_the_track() -> None:
    tracker = ObjectTracker()
    names = ["dog", "dog", "cat", "dog", "cat", "cat"]
    ids = {
        int(tracker.update(objs((n, 50 + i, 50, 150 + i, 120, 0.7)), i).track_id[0])  # type: ignore[index]
        for i, n in enumerate(names)
    }
    ids.discard(UNTRACKED)
    assert len(ids) == 1


def test_exact_class_key_splits_wavering_classes() -> None:
    tracker = ObjectTracker(ObjectTrackerSettings(key=TrackKey.CLASS))
    tracker.update(objs(("dog", 50, 50, 150, 120, 0.7)), 0)
    first = tracker.update(objs(("dog", 51, 50, 151, 120, 0.7)), 1).track_id
    cat = tracker.update(objs(("cat", 52, 50, 152, 120, 0.7)), 2).track_id
    assert first is not None and cat is not None
    assert first[0] != UNTRACKED and cat[0] == UNTRACKED  # a cat never joins the dog track


def test_person_and_car_on_the_same_box_are_two_tracks() -> None:
    tracker = ObjectTracker()
    for i in range(3):
        out = tracker.update(
            objs(("person", 100, 100, 160, 260, 0.9), ("car", 100, 100, 160, 260, 0.9)), i
        )
    assert out.track_id is not None
    assert len(set(out.track_id.tolist())) == 2 and UNTRACKED not in out.track_id


def test_sibling_class_duplicates_are_folded_to_the_best_box() -> None:
    tracker = ObjectTracker()
    frame = objs(("cat", 10, 10, 110, 90, 0.6), ("dog", 12, 10, 112, 90, 0.8))
    folded = tracker.fold(frame)
    assert folded.class_name == ("dog",)
    # other classes in the same place are not folded
    mixed = objs(("cat", 10, 10, 110, 90, 0.6), ("bench", 10, 10, 110, 90, 0.6))
    assert len(tracker.fold(mixed)) == 2


def test_predict_moves_tracks_and_keeps_their_class() -> None:
    tracker = ObjectTracker()
    for i in range(4):
        x = 10.0 + 10 * i
        tracker.update(objs(("bus", x, 100, x + 100, 180, 0.9)), i)
    predicted = tracker.predict(6)
    assert predicted.class_name == ("bus",)
    assert predicted.track_id is not None and predicted.track_id[0] != UNTRACKED
    assert predicted.xyxy[0, 0] > 40.0  # carried forward along its motion


def test_weak_detections_never_start_tracks() -> None:
    tracker = ObjectTracker()
    for i in range(5):
        out = tracker.update(objs(("person", 10, 10, 50, 120, 0.2)), i)
    assert len(tracked_only(out)) == 0


def test_a_long_empty_stretch_ends_tracks_and_new_ids_follow() -> None:
    settings = ObjectTrackerSettings(boxes=BoxTrackerSettings(min_hits=1, max_age=5))
    tracker = ObjectTracker(settings)
    first = tracker.update(objs(("person", 10, 10, 50, 120, 0.9)), 0).track_id
    ended: list[int] = []
    for i in range(1, 500):  # a camera with nothing in view for a long time
        assert len(tracker.update(objs(), i)) == 0
        ended.extend(tracker.ended_track_ids)
    again = tracker.update(objs(("person", 10, 10, 50, 120, 0.9)), 500).track_id
    assert first is not None and again is not None
    assert ended == [int(first[0])]
    assert int(again[0]) != int(first[0])


def test_label_sets_may_not_change() -> None:
    tracker = ObjectTracker()
    tracker.update(objs(("person", 10, 10, 50, 120, 0.9)), 0)
    other = Objects(np.array([[1, 1, 5, 5]]), np.array([0.9]), np.array([0]), ("thing",))
    with pytest.raises(InvalidInputError):
        tracker.update(other, 1)


def test_fold_iou_is_checked() -> None:
    with pytest.raises(InvalidInputError):
        ObjectTrackerSettings(fold_iou=0.0)
