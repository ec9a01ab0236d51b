from __future__ import annotations

import numpy as np
import pytest
from tests.builders import make_faces

from watchkeeper.core import Faces, Frame, QualityIssue
from watchkeeper.core.errors import InvalidInputError


def test_indexing_by_int_slice_mask_and_array_keeps_rows_aligned() -> None:
    faces = make_faces(4, with_embedding=True)
    one = faces[2]
    assert len(one) == 1
    np.testing.assert_array_equal(one.xyxy[0], faces.xyxy[2])
    np.testing.assert_array_equal(one.embedding[0], faces.embedding[2])  # type: ignore[index]
    assert len(faces[1:3]) == 2
    mask = np.array([True, False, True, False])
    np.testing.assert_array_equal(faces[mask].detector_score, faces.detector_score[[0, 2]])
    np.testing.assert_array_equal(faces[[3, 0]].xyxy, faces.xyxy[[3, 0]])


def test_indexing_never_mutates_the_source() -> None:
    faces = make_faces(3)
    before = faces.xyxy.copy()
    sub = faces[[0]]
    sub.xyxy[0, 0] = -1
    np.testing.assert_array_equal(faces.xyxy, before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xyxy": np.zeros((2, 3)), "detector_score": np.zeros(2)}, "xyxy"),
        ({"xyxy": np.zeros((2, 4)), "detector_score": np.zeros(3)}, "detector_score"),
        (
            {
                "xyxy": np.zeros((2, 4)),
                "detector_score": np.zeros(2),
                "embedding": np.zeros((1, 8)),
            },
            "embedding",
        ),
        (
            {"xyxy": np.zeros((1, 4)), "detector_score": np.zeros(1), "rejected": ((), ())},
            "rejected",
        ),
        ({"xyxy": [["a", "b", "c", "d"]], "detector_score": [1.0]}, "numeric"),
    ],
)
def test_misaligned_columns_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Faces(**kwargs)  # type: ignore[arg-type]


def test_out_of_range_int_index_raises() -> None:
    with pytest.raises(IndexError):
        make_faces(2)[5]


def test_accepted_mask_and_concatenate() -> None:
    faces = make_faces(2).with_columns(rejected=((QualityIssue.TOO_SMALL,), ()))
    assert faces.accepted.tolist() == [False, True]
    both = Faces.concatenate([faces, faces])
    assert len(both) == 4
    assert both.accepted.tolist() == [False, True, False, True]
    assert len(Faces.concatenate([])) == 0


def test_frame_validates_shape_and_timezone() -> None:
    with pytest.raises(InvalidInputError):
        Frame(np.zeros((4, 4), np.uint8))
    with pytest.raises(InvalidInputError):
        Frame(np.zeros((4, 4, 3), np.float32))  # type: ignore[arg-type]
    assert Frame(np.zeros((4, 6, 3), np.uint8)).resolution_wh == (6, 4)


def test_five_landmarks_from_68_points_picks_eye_corners_and_nose() -> None:
    points = np.arange(68 * 2, dtype=np.float32).reshape(1, 68, 2)
    faces = Faces(
        xyxy=np.array([[0, 0, 10, 10]], np.float32),
        detector_score=np.ones(1, np.float32),
        landmarks=points,
    )
    five = faces.five_landmarks
    assert five is not None and five.shape == (1, 5, 2)
    np.testing.assert_array_equal(five[0, :, 0], [90, 84, 72, 78, 66])  # points 45 42 36 39 33


def test_five_landmarks_passes_five_through_and_refuses_other_layouts() -> None:
    box = np.array([[0, 0, 10, 10]], np.float32)
    five = np.ones((1, 5, 2), np.float32)
    faces = Faces(xyxy=box, detector_score=np.ones(1, np.float32), landmarks=five)
    assert faces.five_landmarks is not None
    np.testing.assert_array_equal(faces.five_landmarks, five)
    odd = faces.with_columns(landmarks=np.ones((1, 7, 2), np.float32))
    with pytest.raises(InvalidInputError):
        _ = odd.five_landmarks
