"""``Faces``: the columnar currency passed between every stage.

Row ``i`` of every column describes the same face. Stages return new ``Faces`` objects and never
mutate their input; indexing with an int, a slice, an index array or a boolean mask selects rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from watchkeeper.core.errors import InvalidInputError

FloatArray = npt.NDArray[np.float32]

# Where the five points of dlib's 5-point model (outer and inner corner of the subject's left
# eye, then of the right eye, then the base of the nose) sit in the 68-point iBUG layout.
FIVE_OF_SIXTY_EIGHT = (45, 42, 36, 39, 33)
IntArray = npt.NDArray[np.int64]


class QualityIssue(StrEnum):
    """Why a detected face was not used for recognition."""

    TOO_SMALL = "too_small"
    TOO_BLURRED = "too_blurred"
    CUT_OFF = "cut_off_by_frame_edge"


@dataclass(frozen=True, slots=True)
class FacesMeta:
    """Where the rows came from; shared by every row."""

    source_id: str = ""
    frame_index: int = 0
    contract_id: str | None = None
    resolution_wh: tuple[int, int] | None = None


def _as_float32(value: Any, name: str) -> FloatArray:
    try:
        return np.ascontiguousarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"Faces.{name} must be numeric: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Faces:
    """Detected faces, one row each.

    >>> f = Faces(xyxy=np.array([[10, 10, 60, 70]], np.float32), detector_score=np.array([0.9]))
    >>> len(f), f.box_size_px.tolist()
    (1, [50.0])
    """

    xyxy: FloatArray
    detector_score: FloatArray
    landmarks: FloatArray | None = None
    embedding: FloatArray | None = None
    quality: FloatArray | None = None
    rejected: tuple[tuple[QualityIssue, ...], ...] = ()
    track_id: IntArray | None = None
    meta: FacesMeta = field(default_factory=FacesMeta)

    def __post_init__(self) -> None:
        xyxy = _as_float32(self.xyxy, "xyxy")
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise InvalidInputError(f"Faces.xyxy must be (n, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        object.__setattr__(self, "xyxy", xyxy)
        score = _as_float32(self.detector_score, "detector_score").reshape(-1)
        if score.shape != (n,):
            raise InvalidInputError(f"Faces.detector_score must have {n} rows, got {score.shape}")
        object.__setattr__(self, "detector_score", score)
        if self.landmarks is not None:
            lm = _as_float32(self.landmarks, "landmarks")
            if lm.size == 0:
                lm = lm.reshape(0, 5, 2)
            if lm.ndim != 3 or lm.shape[0] != n or lm.shape[2] != 2:
                raise InvalidInputError(f"Faces.landmarks must be ({n}, k, 2), got {lm.shape}")
            object.__setattr__(self, "landmarks", lm)
        if self.embedding is not None:
            emb = _as_float32(self.embedding, "embedding")
            if emb.ndim != 2 or emb.shape[0] != n:
                raise InvalidInputError(f"Faces.embedding must be ({n}, d), got {emb.shape}")
            object.__setattr__(self, "embedding", emb)
        if self.quality is not None:
            q = _as_float32(self.quality, "quality").reshape(-1)
            if q.shape != (n,):
                raise InvalidInputError(f"Faces.quality must have {n} rows")
            object.__setattr__(self, "quality", q)
        rejected = self.rejected or tuple(() for _ in range(n))
        if len(rejected) != n:
            raise InvalidInputError(f"Faces.rejected must have {n} rows")
        object.__setattr__(self, "rejected", tuple(tuple(r) for r in rejected))
        if self.track_id is not None:
            tid = np.asarray(self.track_id, dtype=np.int64).reshape(-1)
            if tid.shape != (n,):
                raise InvalidInputError(f"Faces.track_id must have {n} rows")
            object.__setattr__(self, "track_id", tid)

    @classmethod
    def empty(cls, meta: FacesMeta | None = None) -> Faces:
        """No faces, with the given provenance."""
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            detector_score=np.zeros(0, np.float32),
            meta=meta or FacesMeta(),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | Sequence[int] | npt.NDArray[Any]) -> Faces:
        if isinstance(index, int | np.integer):
            n = len(self)
            i = int(index)
            if not -n <= i < n:
                raise IndexError(f"face {i} out of range for {n} faces")
            rows: Any = np.array([i % n]) if n else np.array([], dtype=np.int64)
        elif isinstance(index, slice):
            rows = np.arange(len(self))[index]
        else:
            arr = np.asarray(index)
            if arr.dtype == bool:
                if arr.shape != (len(self),):
                    raise InvalidInputError("a boolean mask must have one entry per face")
                rows = np.flatnonzero(arr)
            else:
                rows = arr.astype(np.int64).reshape(-1)
        return Faces(
            xyxy=self.xyxy[rows],
            detector_score=self.detector_score[rows],
            landmarks=None if self.landmarks is None else self.landmarks[rows],
            embedding=None if self.embedding is None else self.embedding[rows],
            quality=None if self.quality is None else self.quality[rows],
            rejected=tuple(self.rejected[int(i)] for i in rows),
            track_id=None if self.track_id is None else self.track_id[rows],
            meta=self.meta,
        )

    def with_columns(self, **columns: Any) -> Faces:
        """A copy with some columns replaced; validation runs again."""
        return replace(self, **columns)

    @property
    def accepted(self) -> npt.NDArray[np.bool_]:
        """Boolean mask of rows that passed every quality gate."""
        return np.array([not r for r in self.rejected], dtype=bool)

    @property
    def five_landmarks(self) -> FloatArray | None:
        """The landmarks as five points per face, whichever model placed them (None if unset).

        >>> faces.five_landmarks.shape  # doctest: +SKIP
        (n, 5, 2)
        """
        if self.landmarks is None:
            return None
        k = self.landmarks.shape[1]
        if k == 5:
            return self.landmarks
        if k == 68:
            return np.ascontiguousarray(self.landmarks[:, FIVE_OF_SIXTY_EIGHT])
        raise InvalidInputError(f"no five-point equivalent for {k} landmarks per face")

    @property
    def box_size_px(self) -> FloatArray:
        """The shorter side of each box, in pixels."""
        wh = self.xyxy[:, 2:4] - self.xyxy[:, 0:2]
        return np.asarray(np.minimum(wh[:, 0], wh[:, 1]), dtype=np.float32)

    @property
    def area_px(self) -> FloatArray:
        """Box area in square pixels."""
        wh = np.clip(self.xyxy[:, 2:4] - self.xyxy[:, 0:2], 0, None)
        return np.asarray(wh[:, 0] * wh[:, 1], dtype=np.float32)

    @staticmethod
    def concatenate(parts: Sequence[Faces]) -> Faces:
        """Stack several ``Faces`` with the same optional columns into one (meta of the first)."""
        if not parts:
            return Faces.empty()

        def stack(name: str) -> Any:
            values = [getattr(p, name) for p in parts]
            if all(v is None for v in values):
                return None
            if any(v is None for v in values):
                raise InvalidInputError(f"cannot concatenate Faces where only some have {name}")
            return np.concatenate(values)

        return Faces(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            detector_score=np.concatenate([p.detector_score for p in parts]),
            landmarks=stack("landmarks"),
            embedding=stack("embedding"),
            quality=stack("quality"),
            rejected=tuple(r for p in parts for r in p.rejected),
            track_id=stack("track_id"),
            meta=parts[0].meta,
        )
