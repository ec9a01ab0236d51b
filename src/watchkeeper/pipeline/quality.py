"""Quality gates: each rejected face gets a reason a person can read."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from watchkeeper.config.settings import QualitySettings
from watchkeeper.core import Faces, QualityIssue
from watchkeeper.models.base import ChipBatch

# dlib's detectors return square boxes; a box that touches the frame edge and has been clipped
# to well under square is a face that continues outside the picture.
_CUT_OFF_ASPECT = 0.8


def sharpness(chips: ChipBatch) -> npt.NDArray[np.float32]:
    """Variance of a 3x3 Laplacian over each chip's grey image: low means blurred."""
    if len(chips) == 0:
        return np.zeros(0, np.float32)
    grey = chips.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    lap = (
        -4.0 * grey[:, 1:-1, 1:-1]
        + grey[:, :-2, 1:-1]
        + grey[:, 2:, 1:-1]
        + grey[:, 1:-1, :-2]
        + grey[:, 1:-1, 2:]
    )
    return np.asarray(lap.reshape(len(chips), -1).var(axis=1), dtype=np.float32)


def gate(
    faces: Faces,
    chips: ChipBatch,
    resolution_wh: tuple[int, int],
    settings: QualitySettings,
) -> Faces:
    """Fill ``quality`` (sharpness) and ``rejected`` (reasons) for every face."""
    w, h = resolution_wh
    sharp = sharpness(chips)
    size = faces.box_size_px
    reasons: list[tuple[QualityIssue, ...]] = []
    for i in range(len(faces)):
        issues: list[QualityIssue] = []
        if size[i] < settings.min_face_px:
            issues.append(QualityIssue.TOO_SMALL)
        if settings.min_sharpness > 0 and sharp[i] < settings.min_sharpness:
            issues.append(QualityIssue.TOO_BLURRED)
        x0, y0, x1, y1 = faces.xyxy[i]
        m = settings.edge_margin_px
        touches = x0 <= m or y0 <= m or x1 >= w - m or y1 >= h - m
        bw, bh = x1 - x0, y1 - y0
        aspect = min(bw, bh) / max(bw, bh, 1e-6)
        if touches and aspect < _CUT_OFF_ASPECT:
            issues.append(QualityIssue.CUT_OFF)
        reasons.append(tuple(issues))
    return faces.with_columns(quality=sharp, rejected=tuple(reasons))
