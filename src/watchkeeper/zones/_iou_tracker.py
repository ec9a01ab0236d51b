"""A deliberately small greedy-IoU tracker, a placeholder until ``watchkeeper.tracking`` lands.

Used only by the counting benchmark and tests so counting can be exercised end to end. It
associates each frame's boxes with where the previous boxes should be now (constant velocity,
so a missed detection or two does not break a fast track) by IoU within the same class group, and
first folds near-identical boxes of one group together (a detector may report one animal as both
"cat" and "dog"), which would otherwise become two tracks and two counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from watchkeeper.core import Objects
from watchkeeper.core.errors import InvalidInputError


def box_iou(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """(len(a), len(b)) intersection over union of xyxy boxes."""
    a64, b64 = a.astype(np.float64)[:, None, :], b.astype(np.float64)[None, :, :]
    iw = np.clip(
        np.minimum(a64[..., 2], b64[..., 2]) - np.maximum(a64[..., 0], b64[..., 0]), 0, None
    )
    ih = np.clip(
        np.minimum(a64[..., 3], b64[..., 3]) - np.maximum(a64[..., 1], b64[..., 1]), 0, None
    )
    inter = iw * ih
    area_a = (a64[..., 2] - a64[..., 0]) * (a64[..., 3] - a64[..., 1])
    area_b = (b64[..., 2] - b64[..., 0]) * (b64[..., 3] - b64[..., 1])
    union = area_a + area_b - inter
    return np.asarray(np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0), dtype=np.float64)


@dataclass(slots=True)
class _Track:
    track_id: int
    xyxy: npt.NDArray[np.float32]
    group: str
    missed: int = 0
    velocity: npt.NDArray[np.float32] | None = None  # box shift per frame

    def predicted(self) -> npt.NDArray[np.float32]:
        if self.velocity is None:
            return self.xyxy
        shift = np.tile(self.velocity, 2) * (self.missed + 1)
        return np.asarray(self.xyxy + shift, dtype=np.float32)

    def matched(self, xyxy: npt.NDArray[np.float32]) -> None:
        step = (xyxy[:2] + xyxy[2:] - self.xyxy[:2] - self.xyxy[2:]) / 2 / (self.missed + 1)
        smoothed = step if self.velocity is None else (self.velocity + step) / 2
        self.velocity = np.asarray(smoothed, dtype=np.float32)
        self.xyxy, self.missed = xyxy.copy(), 0


class GreedyIouTracker:
    """Assigns track ids by greedy IoU matching (placeholder; see module docstring)."""

    def __init__(
        self, *, iou_threshold: float = 0.3, max_missed: int = 10, duplicate_iou: float = 0.7
    ) -> None:
        if not 0 < iou_threshold < 1 or not 0 < duplicate_iou <= 1 or max_missed < 0:
            raise InvalidInputError("tracker thresholds out of range")
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.duplicate_iou = duplicate_iou
        self._tracks: list[_Track] = []
        self._next_id = 1

    def _fold_duplicates(self, objects: Objects) -> Objects:
        order = np.argsort(-objects.confidence, kind="stable")
        groups = objects.class_group
        iou = box_iou(objects.xyxy, objects.xyxy)
        kept: list[int] = []
        for i in order:
            if all(groups[i] != groups[k] or iou[i, k] < self.duplicate_iou for k in kept):
                kept.append(int(i))
        return objects[np.array(sorted(kept), dtype=np.int64)]

    def update(self, objects: Objects) -> Objects:
        """The frame's objects (duplicates folded) with a ``track_id`` column."""
        objects = self._fold_duplicates(objects)
        groups = objects.class_group
        n = len(objects)
        track_ids = np.zeros(n, dtype=np.int64)
        assigned = np.zeros(n, dtype=bool)
        used: set[int] = set()
        if self._tracks and n:
            iou = box_iou(np.stack([t.predicted() for t in self._tracks]), objects.xyxy)
            for ti, track in enumerate(self._tracks):
                iou[ti, [j for j in range(n) if groups[j] != track.group]] = 0.0
            while True:
                best_t, best_d = np.unravel_index(int(np.argmax(iou)), iou.shape)
                ti, di = int(best_t), int(best_d)
                if iou[ti, di] < self.iou_threshold:
                    break
                track = self._tracks[ti]
                track.matched(objects.xyxy[di])
                track_ids[di], assigned[di] = track.track_id, True
                used.add(ti)
                iou[ti, :], iou[:, di] = 0.0, 0.0
        survivors = []
        for ti, track in enumerate(self._tracks):
            if ti not in used:
                track.missed += 1
            if track.missed <= self.max_missed:
                survivors.append(track)
        self._tracks = survivors
        for new in np.flatnonzero(~assigned):
            di = int(new)
            track = _Track(self._next_id, objects.xyxy[di].copy(), groups[di])
            self._next_id += 1
            self._tracks.append(track)
            track_ids[di] = track.track_id
        return objects.with_columns(track_id=track_ids)
