"""Box helpers: IoU and centre-size conversions."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.tracking.boxes import box_iou, cxcywh_to_xyxy, xyxy_to_cxcywh


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),
        ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),
    ],
)
def test_box_iou_cases(a: list[float], b: list[float], expected: float) -> None:
    assert box_iou([a], [b])[0, 0] == pytest.approx(expected)


def test_box_iou_shape_and_empty() -> None:
    assert box_iou(np.zeros((3, 4)), np.zeros((0, 4))).shape == (3, 0)
    assert box_iou([[0, 0, 1, 1], [0, 0, 2, 2]], [[0, 0, 1, 1]]).shape == (2, 1)


def test_centre_size_round_trip() -> None:
    boxes = np.array([[10, 20, 50, 80], [0, 0, 1, 3]], np.float32)
    c = xyxy_to_cxcywh(boxes)
    np.testing.assert_allclose(c[0], [30, 50, 40, 60])
    np.testing.assert_allclose(cxcywh_to_xyxy(c), boxes)
