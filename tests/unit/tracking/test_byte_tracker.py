"""BoxTracker on synthetic boxes: ids stay with the right object through crossings and gaps."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.core import Faces
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.tracking.base import UNTRACKED
from watchkeeper.tracking.byte_tracker import BoxTracker, BoxTrackerSettings


def make_faces(
    boxes: list[tuple[float, float, float, float]],
    scores: list[float] | None = None,
    embeddings: list[list[float]] | None = None,
) -> Faces:
    return Faces(
        xyxy=np.array(boxes, np.float32).reshape(-1, 4),
        detector_score=np.array(scores if scores is not None else [0.9] * len(boxes), np.float32),
        embedding=None if embeddings is None else np.array(embeddings, np.float32),
    )


def box_at(cx: float, cy: float, size: float = 40.0) -> tuple[float, float, float, float]:
    return (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)


def ids_of(faces: Faces) -> list[int]:
    assert faces.track_id is not None
    return [int(i) for i in faces.track_id]


def test_new_track_is_confirmed_after_min_hits_and_keeps_its_id() -> None:
    tracker = BoxTracker(BoxTrackerSettings(min_hits=3))
    seen = [ids_of(tracker.update(make_faces([box_at(100 + 2 * t, 100)]), t)) for t in range(5)]
    assert seen[:2] == [[UNTRACKED], [UNTRACKED]]
    assert seen[2] == seen[3] == seen[4] == [1]


def test_update_returns_new_faces_and_leaves_input_alone() -> None:
    tracker = BoxTracker(BoxTrackerSettings(min_hits=1))
    faces = make_faces([box_at(50, 50)])
    out = tracker.update(faces, 0)
    assert faces.track_id is None
    assert out is not faces
    np.testing.assert_array_equal(out.xyxy, faces.xyxy)


def test_crossing_paths_keep_their_ids() -> None:
    # Two faces walk towards each other along the same line and pass; the detector lists them
    # in a different order on every other frame, so only motion can keep them apart.
    tracker = BoxTracker(BoxTrackerSettings(min_hits=1))
    first: dict[int, str] = {}
    for t in range(40):
        left_to_right = box_at(40 + 8 * t, 200)
        right_to_left = box_at(360 - 8 * t, 200)
        order = [left_to_right, right_to_left] if t % 2 else [right_to_left, left_to_right]
        names = ["ltr", "rtl"] if t % 2 else ["rtl", "ltr"]
        out = tracker.update(make_faces(order), t)
        for name, track_id in zip(names, ids_of(out), strict=True):
            if track_id == UNTRACKED:
                continue
            first.setdefault(track_id, name)
            assert first[track_id] == name, f"track {track_id} jumped to {name} at frame {t}"
    assert sorted(first) == [1, 2]


def test_occlusion_within_max_age_keeps_the_id() -> None:
    tracker = BoxTracker(BoxTrackerSettings(min_hits=1, max_age=10))
    for t in range(5):
        assert ids_of(tracker.update(make_faces([box_at(100 + 3 * t, 100)]), t)) == [1]
    for t in range(5, 12):  # hidden for 7 frames
        assert len(tracker.update(make_faces([]), t)) == 0
    out = tracker.update(make_faces([box_at(100 + 3 * 12, 100)]), 12)
    assert ids_of(out) == [1]


def test_gap_longer_than_max_age_gives_a_new_id() -> None:
    tracker = BoxTracker(BoxTrackerSettings(min_hits=1, max_age=3))
    tracker.update(make_faces([box_at(100, 100)]), 0)
    for t in range(1, 6):
        tracker.update(make_faces([]), t)
    assert 1 in tracker.ended_track_ids or not tracker.snapshot()
    assert ids_of(tracker.update(make_faces([box_at(100, 100)]), 6)) == [2]


def test_a_new_face_gets_a_new_id_and_the_old_one_stays() -> None:
    tracker = BoxTracker(BoxTrackerSettings(min_hits=1))
    tracker.update(make_faces([box_at(100, 100)]), 0)
    out = tracker.update(make_faces([box_at(101, 100), box_at(300, 120)]), 1)
    assert ids_of(out) == [1, 2]


def test_low_score_detections_extend_tracks_but_never_start_them() -> None:
    settings = BoxTrackerSettings(high_score=0.5, low_score=0.1, min_hits=1)
    tracker = BoxTracker(settings)
    tracker.update(make_faces([box_at(100, 100)], [0.9]), 0)
    # A weak box on the tracked face extends the track; a weak box elsewhere starts nothing.
    out = tracker.update(make_faces([box_at(102, 100), box_at(300, 300)], [0.3, 0.3]), 1)
    assert ids_of(out) == [1, UNTRACKED]
    out = tracker.update(make_faces([box_at(300, 300)], [0.3]), 2)
    assert ids_of(out) == [UNTRACKED]
    # Below low_score a box is ignored even where the track is.
    tracker2 = BoxTracker(settings)
    tracker2.update(make_faces([box_at(100, 100)], [0.9]), 0)
    assert ids_of(tracker2.update(make_faces([box_at(100, 100)], [0.05]), 1)) == [UNTRACKED]


def test_predict_follows_constant_motion_on_skipped_frames() -> None:
    tracker = BoxTracker(BoxTrackerSettings(min_hits=1))
    for t in range(0, 12, 3):  # detection every third frame, moving 5 px per frame
        tracker.update(make_faces([box_at(100 + 5 * t, 100)]), t)
    predicted = tracker.predict(13)
    assert ids_of(predicted) == [1]
    centre_x = float(predicted.xyxy[0, [0, 2]].mean())
    assert abs(centre_x - (100 + 5 * 13)) < 4.0
    # A detection on the next interval lands on the same track.
    assert ids_of(tracker.update(make_faces([box_at(100 + 5 * 15, 100)]), 15)) == [1]


def test_appearance_keeps_ids_when_boxes_swap_places() -> None:
    # Two faces overlap heavily; appearance decides which detection is which.
    settings = BoxTrackerSettings(min_hits=1, appearance_weight=0.8)
    tracker = BoxTracker(settings)
    a, b = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]
    first = tracker.update(make_faces([box_at(100, 100), box_at(110, 100)], embeddings=[a, b]), 0)
    assert ids_of(first) == [1, 2]
    swapped = make_faces([box_at(100, 100), box_at(110, 100)], embeddings=[b, a])
    assert ids_of(tracker.update(swapped, 1)) == [2, 1]


def test_reidentification_links_a_jump_on_appearance_alone() -> None:
    a = [1.0, 0.0]
    plain = BoxTracker(BoxTrackerSettings(min_hits=1))
    reid = BoxTracker(BoxTrackerSettings(min_hits=1, reid_similarity=0.9))
    for tracker in (plain, reid):
        tracker.update(make_faces([box_at(100, 100)], embeddings=[a]), 0)
    jumped = make_faces([box_at(300, 100)], embeddings=[a])
    assert ids_of(plain.update(jumped, 1)) == [2]
    assert ids_of(reid.update(jumped, 1)) == [1]


def test_classes_never_share_a_track() -> None:
    tracker = BoxTracker(BoxTrackerSettings(min_hits=1))
    ids0 = tracker.assign([box_at(100, 100)], [0.9], 0, class_ids=[0])
    ids1 = tracker.assign([box_at(100, 100)], [0.9], 1, class_ids=[2])
    assert ids0.tolist() == [1]
    assert ids1.tolist() == [2]


def test_frames_must_not_go_backwards() -> None:
    tracker = BoxTracker()
    tracker.update(make_faces([box_at(10, 10)]), 5)
    with pytest.raises(InvalidInputError, match="backwards"):
        tracker.update(make_faces([box_at(10, 10)]), 4)
    tracker.reset()
    tracker.update(make_faces([box_at(10, 10)]), 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"low_score": 0.9, "high_score": 0.5},
        {"match_iou": 0.0},
        {"min_hits": 0},
        {"max_age": -1},
        {"appearance_weight": 1.5},
        {"reid_similarity": 2.0},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInputError):
        BoxTrackerSettings(**kwargs)  # type: ignore[arg-type]


def test_mismatched_inputs_are_refused() -> None:
    tracker = BoxTracker()
    with pytest.raises(InvalidInputError):
        tracker.assign([box_at(10, 10)], [0.9, 0.8], 0)
    with pytest.raises(InvalidInputError):
        tracker.assign([[0, 0, np.nan, 10]], [0.9], 0)
