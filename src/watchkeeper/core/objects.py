"""``Objects``: the columnar currency for detected people, vehicles and animals.

The object-detection twin of ``Faces``: row ``i`` of every column describes the same object.
Class names live once in a ``labels`` tuple shared by all rows; ``class_id`` indexes it. Stages
return new ``Objects`` and never mutate their input.

Counting is anonymous by construction: there is no identity or attribute column here, only the
class a detector saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from watchkeeper.core.errors import InvalidInputError

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

COCO_CLASS_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
"""The 80 COCO detection classes in the order Darknet and most COCO models emit them."""


class ClassGroup(StrEnum):
    """The coarse groups that counts are usually reported in."""

    PERSON = "person"
    VEHICLE = "vehicle"
    ANIMAL = "animal"
    OTHER = "other"


_VEHICLES = ("car", "truck", "bus", "motorcycle", "bicycle")
_ANIMALS = ("bird", "cat", "dog", "horse", "sheep", "cow", "bear", "zebra", "giraffe", "elephant")

CLASS_GROUPS: Mapping[str, ClassGroup] = MappingProxyType(
    {
        "person": ClassGroup.PERSON,
        **dict.fromkeys(_VEHICLES, ClassGroup.VEHICLE),
        **dict.fromkeys(_ANIMALS, ClassGroup.ANIMAL),
    }
)
"""Class name -> group. Every other class name belongs to ``ClassGroup.OTHER``."""


def class_group(class_name: str) -> ClassGroup:
    """The group a class name belongs to.

    >>> class_group("bus"), class_group("toaster")
    (<ClassGroup.VEHICLE: 'vehicle'>, <ClassGroup.OTHER: 'other'>)
    """
    return CLASS_GROUPS.get(class_name, ClassGroup.OTHER)


def class_names_in(groups: Iterable[ClassGroup | str]) -> frozenset[str]:
    """Every class name that belongs to one of ``groups`` (OTHER is not enumerable: an error)."""
    wanted = {ClassGroup(g) for g in groups}
    if ClassGroup.OTHER in wanted:
        raise InvalidInputError("the 'other' group has no fixed class list; name the classes")
    return frozenset(name for name, group in CLASS_GROUPS.items() if group in wanted)


@dataclass(frozen=True, slots=True)
class ObjectsMeta:
    """Where the rows came from; shared by every row."""

    source_id: str = ""
    frame_index: int = 0
    resolution_wh: tuple[int, int] | None = None


def _as_float32(value: Any, name: str) -> FloatArray:
    try:
        return np.ascontiguousarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"Objects.{name} must be numeric: {exc}") from exc


def _as_int64(value: Any, name: str) -> IntArray:
    arr = np.asarray(value)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInputError(f"Objects.{name} must hold integers, got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64).reshape(-1)


@dataclass(frozen=True, slots=True)
class Objects:
    """Detected objects, one row each.

    >>> o = Objects(
    ...     xyxy=np.array([[10, 20, 50, 120]], np.float32),
    ...     confidence=np.array([0.8]),
    ...     class_id=np.array([0]),
    ...     labels=("person", "car"),
    ... )
    >>> len(o), o.class_name, o.class_group
    (1, ('person',), (<ClassGroup.PERSON: 'person'>,))
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    labels: tuple[str, ...]
    track_id: IntArray | None = None
    meta: ObjectsMeta = field(default_factory=ObjectsMeta)

    def __post_init__(self) -> None:
        xyxy = _as_float32(self.xyxy, "xyxy")
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise InvalidInputError(f"Objects.xyxy must be (n, 4), got {xyxy.shape}")
        if not np.all(np.isfinite(xyxy)):
            raise InvalidInputError("Objects.xyxy holds NaN or infinite coordinates")
        if np.any(xyxy[:, 2:4] < xyxy[:, 0:2]):
            raise InvalidInputError("Objects.xyxy needs x1 <= x2 and y1 <= y2 in every row")
        n = xyxy.shape[0]
        object.__setattr__(self, "xyxy", xyxy)

        confidence = _as_float32(self.confidence, "confidence").reshape(-1)
        if confidence.shape != (n,):
            raise InvalidInputError(
                f"Objects.confidence must have {n} rows, got {confidence.shape}"
            )
        if not np.all(np.isfinite(confidence)):
            raise InvalidInputError("Objects.confidence holds NaN or infinite values")
        object.__setattr__(self, "confidence", confidence)

        labels = tuple(self.labels)
        if not labels or not all(isinstance(x, str) and x for x in labels):
            raise InvalidInputError("Objects.labels must be a non-empty tuple of class names")
        object.__setattr__(self, "labels", labels)

        class_id = _as_int64(self.class_id, "class_id")
        if class_id.shape != (n,):
            raise InvalidInputError(f"Objects.class_id must have {n} rows, got {class_id.shape}")
        if n and (class_id.min() < 0 or class_id.max() >= len(labels)):
            raise InvalidInputError(f"Objects.class_id must lie in [0, {len(labels)})")
        object.__setattr__(self, "class_id", class_id)

        if self.track_id is not None:
            track_id = _as_int64(self.track_id, "track_id")
            if track_id.shape != (n,):
                raise InvalidInputError(f"Objects.track_id must have {n} rows")
            object.__setattr__(self, "track_id", track_id)

    @classmethod
    def empty(cls, labels: Sequence[str], meta: ObjectsMeta | None = None) -> Objects:
        """No objects, with the given label set and provenance."""
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int64),
            labels=tuple(labels),
            meta=meta or ObjectsMeta(),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | Sequence[int] | npt.NDArray[Any]) -> Objects:
        n = len(self)
        rows: IntArray
        if isinstance(index, int | np.integer):
            i = int(index)
            if not -n <= i < n:
                raise IndexError(f"object {i} out of range for {n} objects")
            rows = np.array([i % n], dtype=np.int64)
        elif isinstance(index, slice):
            rows = np.arange(n, dtype=np.int64)[index]
        else:
            arr = np.asarray(index)
            if arr.dtype == bool:
                if arr.shape != (n,):
                    raise InvalidInputError("a boolean mask must have one entry per object")
                rows = np.flatnonzero(arr).astype(np.int64)
            else:
                rows = arr.astype(np.int64).reshape(-1)
        return Objects(
            xyxy=self.xyxy[rows],
            confidence=self.confidence[rows],
            class_id=self.class_id[rows],
            labels=self.labels,
            track_id=None if self.track_id is None else self.track_id[rows],
            meta=self.meta,
        )

    def with_columns(self, **columns: Any) -> Objects:
        """A copy with some columns replaced; validation runs again."""
        return replace(self, **columns)

    @property
    def class_name(self) -> tuple[str, ...]:
        """The class name of each row."""
        return tuple(self.labels[int(i)] for i in self.class_id)

    @property
    def class_group(self) -> tuple[ClassGroup, ...]:
        """The class group of each row."""
        return tuple(class_group(name) for name in self.class_name)

    def of_classes(self, names: Iterable[str]) -> npt.NDArray[np.bool_]:
        """Boolean mask of rows whose class name is one of ``names``.

        Unknown names are an error, so a typo in a config never silently counts nothing.
        """
        wanted = set(names)
        unknown = wanted.difference(self.labels)
        if unknown:
            raise InvalidInputError(f"unknown class names: {sorted(unknown)}")
        ids = [i for i, name in enumerate(self.labels) if name in wanted]
        return np.isin(self.class_id, np.array(ids, dtype=np.int64))

    @property
    def area_px(self) -> FloatArray:
        """Box area in square pixels."""
        wh = self.xyxy[:, 2:4] - self.xyxy[:, 0:2]
        return np.asarray(wh[:, 0] * wh[:, 1], dtype=np.float32)

    @staticmethod
    def concatenate(parts: Sequence[Objects]) -> Objects:
        """Stack several ``Objects`` with the same labels into one (meta of the first).

        Either every part carries track ids or none does.
        """
        if not parts:
            raise InvalidInputError("concatenate needs at least one Objects (for its labels)")
        labels = parts[0].labels
        if any(p.labels != labels for p in parts):
            raise InvalidInputError("cannot concatenate Objects with different label sets")
        track_ids = [p.track_id for p in parts]
        if all(t is None for t in track_ids):
            track_id = None
        elif any(t is None for t in track_ids):
            raise InvalidInputError("cannot concatenate Objects where only some have track ids")
        else:
            track_id = np.concatenate([t for t in track_ids if t is not None])
        return Objects(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            labels=labels,
            track_id=track_id,
            meta=parts[0].meta,
        )
