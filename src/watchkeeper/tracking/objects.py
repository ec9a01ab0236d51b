"""Tracking people, vehicles and animals: :class:`BoxTracker` on ``Objects``.

The box tracker itself is shape-agnostic (boxes, scores, a class key per box); this module only
decides what keeps tracks apart and what the rows look like afterwards:

- Tracks are kept apart by class *group* for person, vehicle and animal, and by class name for
  every other COCO class. A detector often wavers between "cat" and "dog", or "car" and
  "truck", for the same object from frame to frame; keying on the exact class would break the
  track each time, and a broken track is a double count at a line.
- Per-class non-maximum suppression lets one object come out as two boxes of sibling classes
  ("cat" and "dog" on the same animal). Such near-identical boxes within one key are folded into
  the most confident one before tracking, for the same reason.
- Each row keeps the class the detector gave it; the counters vote over a track's life.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from watchkeeper.core import ClassGroup, Objects, class_group
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.tracking.base import UNTRACKED
from watchkeeper.tracking.boxes import box_iou
from watchkeeper.tracking.byte_tracker import BoxTracker, BoxTrackerSettings

IntArray = npt.NDArray[np.int64]


class TrackKey(StrEnum):
    """What must agree for two boxes to belong to one track."""

    GROUP = "group"
    """Person/vehicle/animal groups, class name for the rest (the default; see module doc)."""
    CLASS = "class"
    """The exact detector class."""


OBJECT_TRACKER_SETTINGS = BoxTrackerSettings(
    high_score=0.25,
    low_score=0.1,
    match_iou=0.2,
    low_match_iou=0.4,
    tentative_match_iou=0.3,
    min_hits=2,
    max_age=20,
    appearance_weight=0.0,
)
"""Box-tracker thresholds for YOLO-style confidences (0-1; YOLOv4-tiny reports from 0.25 up).

Every detection the object detector reports at its default threshold counts as confident here
(``high_score`` = 0.25, the face default is 0.5). YOLOv4-tiny gives small or unusual objects
0.25-0.5 for many frames in a row (a dog side-on scores 0.28-0.48 across a whole frame), and
with a higher bar such a stretch can neither start a track nor win back a track lost a moment
earlier, which loses the crossing made during it (measured in ``bench count``: 97.1% of
crossings at 0.4, all at 0.25). One-frame false alarms are still kept out by ``min_hits`` = 2.
Detections below 0.25 appear only if a camera lowers the detector threshold; they then only
extend live tracks. ``max_age`` of 20 detector runs (2 s at 10 fps) bridges misses and short
occlusions without keeping ghosts long enough to take over the next object in a lane.
Appearance plays no part: object detections carry no embeddings.
"""


@dataclass(frozen=True, slots=True)
class ObjectTrackerSettings:
    """How :class:`ObjectTracker` keys and folds boxes, plus the box tracker's thresholds."""

    boxes: BoxTrackerSettings = OBJECT_TRACKER_SETTINGS
    key: TrackKey = TrackKey.GROUP
    fold_iou: float = 0.7
    """Boxes of one key overlapping at least this much are one object (the best box is kept)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.fold_iou <= 1.0:
            raise InvalidInputError("fold_iou must be in (0, 1]")
        object.__setattr__(self, "key", TrackKey(self.key))


class ObjectTracker:
    """Stable ids for detected objects across frames.

    >>> tracker = ObjectTracker()
    >>> car = Objects(np.array([[10, 10, 60, 40]]), np.array([0.9]), np.array([0]), ("car",))
    >>> tracker.update(car, 0).track_id.tolist(), tracker.update(car, 1).track_id.tolist()
    ([-1], [1])
    """

    def __init__(self, settings: ObjectTrackerSettings | None = None) -> None:
        self.settings = settings or ObjectTrackerSettings()
        self._boxes = BoxTracker(self.settings.boxes)
        self._keys: dict[str, int] = {}
        self._labels: tuple[str, ...] | None = None
        self._last_class: dict[int, int] = {}

    @property
    def ended_track_ids(self) -> tuple[int, ...]:
        """Ids of tracks removed by the last call."""
        return self._boxes.ended_track_ids

    def reset(self) -> None:
        """Forget every track (ids keep counting up)."""
        self._boxes.reset()
        self._last_class = {}

    def _key_ids(self, objects: Objects) -> IntArray:
        keys = []
        for name in objects.class_name:
            group = class_group(name)
            if self.settings.key is TrackKey.CLASS or group is ClassGroup.OTHER:
                key = f"class:{name}"
            else:
                key = f"group:{group.value}"
            keys.append(self._keys.setdefault(key, len(self._keys)))
        return np.array(keys, dtype=np.int64)

    def fold(self, objects: Objects) -> Objects:
        """``objects`` without near-duplicate boxes of the same key (the most confident stays)."""
        if len(objects) < 2:
            return objects
        keys = self._key_ids(objects)
        iou = box_iou(objects.xyxy, objects.xyxy)
        kept: list[int] = []
        for i in np.argsort(-objects.confidence, kind="stable"):
            if all(keys[i] != keys[k] or iou[i, k] < self.settings.fold_iou for k in kept):
                kept.append(int(i))
        if len(kept) == len(objects):
            return objects
        return objects[np.array(sorted(kept), dtype=np.int64)]

    def update(self, objects: Objects, frame_index: int) -> Objects:
        """The frame's objects (near-duplicates folded) with ``track_id`` set.

        Rows in no confirmed track yet carry ``UNTRACKED``; :func:`tracked_only` drops them.
        """
        self._check_labels(objects)
        objects = self.fold(objects)
        ids = self._boxes.assign(
            objects.xyxy, objects.confidence, frame_index, class_ids=self._key_ids(objects)
        )
        for track_id, class_id in zip(ids.tolist(), objects.class_id.tolist(), strict=True):
            if track_id != UNTRACKED:
                self._last_class[track_id] = class_id
        self._drop_ended()
        return objects.with_columns(track_id=ids)

    def predict(self, frame_index: int, labels: tuple[str, ...] | None = None) -> Objects:
        """Where the live tracks should be on a frame the detector skipped.

        Each row carries the track's last detected class and score.
        """
        boxes = self._boxes.predict_boxes(frame_index)
        self._drop_ended()
        names = labels or self._labels
        if names is None:
            if len(boxes):  # pragma: no cover - tracks exist only after an update
                raise InvalidInputError("predict before any update has no labels")
            return Objects.empty(("object",)).with_columns(track_id=np.zeros(0, np.int64))
        class_id = np.array(
            [self._last_class.get(int(t), 0) for t in boxes.track_id], dtype=np.int64
        )
        return Objects(
            xyxy=boxes.xyxy,
            confidence=boxes.score,
            class_id=class_id,
            labels=names,
            track_id=boxes.track_id,
        )

    def _check_labels(self, objects: Objects) -> None:
        if self._labels is None:
            self._labels = objects.labels
        elif objects.labels != self._labels:
            raise InvalidInputError("an object tracker follows one detector's label set")

    def _drop_ended(self) -> None:
        for track_id in self._boxes.ended_track_ids:
            self._last_class.pop(track_id, None)


def tracked_only(objects: Objects) -> Objects:
    """The rows that belong to a confirmed track."""
    if objects.track_id is None:
        raise InvalidInputError("these objects carry no track ids")
    return objects[objects.track_id != UNTRACKED]
