"""Box arithmetic the tracker and its evaluation share (xyxy pixels unless named otherwise)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


def box_iou(a_xyxy: npt.ArrayLike, b_xyxy: npt.ArrayLike) -> FloatArray:
    """Intersection over union of every box in ``a`` with every box in ``b``: (len(a), len(b)).

    >>> box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30]]).round(3).tolist()
    [[0.333, 0.0]]
    """
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]), np.float32)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 2], b[None, :, 2])
    bottom = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return iou.astype(np.float32)


def xyxy_to_cxcywh(xyxy: npt.ArrayLike) -> FloatArray:
    """(x1, y1, x2, y2) to (centre x, centre y, width, height)."""
    b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    wh = b[:, 2:4] - b[:, 0:2]
    return np.concatenate([b[:, 0:2] + wh / 2, wh], axis=1).astype(np.float32)


def cxcywh_to_xyxy(cxcywh: npt.ArrayLike) -> FloatArray:
    """(centre x, centre y, width, height) to (x1, y1, x2, y2)."""
    b = np.asarray(cxcywh, dtype=np.float32).reshape(-1, 4)
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, 0:2] - half, b[:, 0:2] + half], axis=1).astype(np.float32)
