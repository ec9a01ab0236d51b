"""A ByteTrack-style multi-object tracker over boxes (faces today, people and vehicles later).

Each frame with detections goes through three association stages, each solved with the
Hungarian method on a cost of ``1 - IoU`` between Kalman-predicted track boxes and detections
(blended with ``1 - cosine similarity`` when both sides carry embeddings):

1. confident detections (score >= ``high_score``) against confirmed tracks, including tracks
   lost a few frames ago, so a face that reappears keeps its id; when ``reid_similarity`` is
   set, confident detections still unmatched may then rejoin a confirmed track on appearance
   alone (a face that jumped, or came back somewhere else, after a cut or an occlusion);
2. weak detections (``low_score`` <= score < ``high_score``) against the confirmed tracks still
   unmatched: blurred or half-hidden faces extend a track but never start one;
3. remaining confident detections against tentative tracks.

A new track is tentative until it has been matched ``min_hits`` times in a row; a confirmed
track that goes ``max_age`` frames without a detection is removed. Ids are given at
confirmation, counting up from 1, and never reused.

The core works on plain arrays (:meth:`BoxTracker.assign`), with an optional class per box so
that a person is never matched to a car; :meth:`BoxTracker.update` wraps it for ``Faces``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from watchkeeper.core import Faces
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.tracking.base import UNTRACKED
from watchkeeper.tracking.boxes import box_iou, cxcywh_to_xyxy, xyxy_to_cxcywh
from watchkeeper.tracking.kalman import BoxKalman

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

_INFEASIBLE = 1e6


class TrackState(StrEnum):
    """Where a track is in its life."""

    TENTATIVE = "tentative"
    TRACKED = "tracked"
    LOST = "lost"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class BoxTrackerSettings:
    """Thresholds of :class:`BoxTracker`.

    Scores are in the detector's own units: the defaults suit detectors that give a 0-1
    confidence; dlib's HOG detector gives an SVM margin (about -0.5 to 3), see the evaluation.
    """

    high_score: float = 0.5
    """Detections at or above this take part in stage 1 and may start tracks."""
    low_score: float = 0.1
    """Detections from here up to ``high_score`` may only extend existing tracks (stage 2)."""
    match_iou: float = 0.2
    """Least IoU between a predicted track box and a confident detection to link them."""
    low_match_iou: float = 0.5
    """Least IoU to link a weak detection: stricter, as weak boxes are often false alarms."""
    tentative_match_iou: float = 0.3
    """Least IoU to link a detection to a tentative track."""
    min_hits: int = 2
    """Consecutive matched detections before a track is confirmed and gets an id."""
    max_age: int = 30
    """Frames without a detection after which a confirmed track is removed."""
    appearance_weight: float = 0.5
    """Share of the cost taken by appearance when both sides have embeddings (0 turns it off)."""
    min_appearance_similarity: float = 0.0
    """Cosine similarity below which a detection may not join a track whatever the overlap."""
    embedding_momentum: float = 0.9
    """How much of a track's running embedding is kept at each update (exponential average)."""
    reid_similarity: float | None = None
    """Cosine similarity at which a confident detection rejoins a confirmed track whatever the
    overlap (needs embeddings; None turns re-identification off)."""

    def __post_init__(self) -> None:
        if self.low_score > self.high_score:
            raise InvalidInputError("low_score must not exceed high_score")
        for name in ("match_iou", "low_match_iou", "tentative_match_iou"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise InvalidInputError(f"{name} must be in (0, 1]")
        if self.min_hits < 1:
            raise InvalidInputError("min_hits must be at least 1")
        if self.max_age < 0:
            raise InvalidInputError("max_age must be 0 or more")
        if not 0.0 <= self.appearance_weight <= 1.0:
            raise InvalidInputError("appearance_weight must be in [0, 1]")
        if not 0.0 <= self.embedding_momentum < 1.0:
            raise InvalidInputError("embedding_momentum must be in [0, 1)")
        if self.reid_similarity is not None and not -1.0 <= self.reid_similarity <= 1.0:
            raise InvalidInputError("reid_similarity must be a cosine similarity in [-1, 1]")


@dataclass(slots=True)
class _Track:
    kalman: BoxKalman
    state_index: int
    last_hit_index: int
    score: float
    class_id: int
    embedding: npt.NDArray[np.float32] | None
    state: TrackState = TrackState.TENTATIVE
    hits: int = 1
    track_id: int = UNTRACKED

    @property
    def xyxy(self) -> FloatArray:
        return np.asarray(cxcywh_to_xyxy(self.kalman.cxcywh)[0], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class TrackedBoxes:
    """Predicted boxes of the live confirmed tracks, row-aligned."""

    xyxy: FloatArray
    score: FloatArray
    track_id: IntArray
    class_id: IntArray

    def __len__(self) -> int:
        return int(self.track_id.shape[0])


@dataclass(frozen=True, slots=True)
class TrackSnapshot:
    """One track as the tracker sees it now (for health pages and events)."""

    track_id: int
    state: TrackState
    xyxy: tuple[float, float, float, float]
    hits: int
    last_hit_index: int
    class_id: int


def _normalised(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)


class BoxTracker:
    """ByteTrack-style tracker; see the module docstring for the algorithm.

    >>> tracker = BoxTracker(BoxTrackerSettings(min_hits=1))
    >>> boxes = Faces(xyxy=np.array([[10, 10, 50, 50]], np.float32), detector_score=[0.9])
    >>> tracker.update(boxes, 0).track_id.tolist(), tracker.update(boxes, 1).track_id.tolist()
    ([1], [1])
    """

    def __init__(self, settings: BoxTrackerSettings | None = None) -> None:
        self.settings = settings or BoxTrackerSettings()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_index: int | None = None
        self.ended_track_ids: tuple[int, ...] = ()
        """Ids of confirmed tracks removed by the last call (for track-ended events)."""

    # ------------------------------------------------------------------ public API

    def reset(self) -> None:
        """Drop every track; ids keep counting, so an id is never given twice by one tracker."""
        self._tracks = []
        self._last_index = None
        self.ended_track_ids = ()

    def update(self, faces: Faces, frame_index: int) -> Faces:
        """A new ``Faces`` with the rows of ``faces`` and their ``track_id`` set."""
        ids = self.assign(faces.xyxy, faces.detector_score, frame_index, embeddings=faces.embedding)
        return faces.with_columns(track_id=ids)

    def predict(self, frame_index: int) -> Faces:
        """Predicted boxes of tracks seen at the last detection, as ``Faces`` with track ids.

        ``detector_score`` carries each track's last detection score.
        """
        boxes = self.predict_boxes(frame_index)
        return Faces(xyxy=boxes.xyxy, detector_score=boxes.score, track_id=boxes.track_id)

    def predict_boxes(self, frame_index: int) -> TrackedBoxes:
        """:meth:`predict` on plain arrays, with each track's class."""
        self._advance_all(frame_index)
        self._retire(frame_index)
        live = [t for t in self._tracks if t.state is TrackState.TRACKED]
        return TrackedBoxes(
            xyxy=np.array([t.xyxy for t in live], np.float32).reshape(-1, 4),
            score=np.array([t.score for t in live], np.float32),
            track_id=np.array([t.track_id for t in live], np.int64),
            class_id=np.array([t.class_id for t in live], np.int64),
        )

    def snapshot(self) -> tuple[TrackSnapshot, ...]:
        """Confirmed tracks (tracked or lost) as they stand after the last call."""
        return tuple(
            TrackSnapshot(
                track_id=t.track_id,
                state=t.state,
                xyxy=(float(t.xyxy[0]), float(t.xyxy[1]), float(t.xyxy[2]), float(t.xyxy[3])),
                hits=t.hits,
                last_hit_index=t.last_hit_index,
                class_id=t.class_id,
            )
            for t in self._tracks
            if t.state in (TrackState.TRACKED, TrackState.LOST)
        )

    def assign(
        self,
        xyxy: npt.ArrayLike,
        scores: npt.ArrayLike,
        frame_index: int,
        *,
        embeddings: npt.ArrayLike | None = None,
        class_ids: npt.ArrayLike | None = None,
    ) -> IntArray:
        """Track ids for the boxes of one frame (``UNTRACKED`` for rows in no confirmed track).

        Rows below ``low_score`` are ignored. ``class_ids`` keeps classes apart: a box only
        joins a track of its own class.
        """
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        n = boxes.shape[0]
        score = np.asarray(scores, dtype=np.float32).reshape(-1)
        if score.shape != (n,):
            raise InvalidInputError(f"need one score per box: {n} boxes, {score.shape} scores")
        classes = (
            np.zeros(n, np.int64)
            if class_ids is None
            else np.asarray(class_ids, dtype=np.int64).reshape(-1)
        )
        if classes.shape != (n,):
            raise InvalidInputError("need one class id per box")
        emb: npt.NDArray[np.float32] | None = None
        if embeddings is not None:
            emb = np.asarray(embeddings, dtype=np.float32)
            if emb.ndim != 2 or emb.shape[0] != n:
                raise InvalidInputError("need one embedding row per box")
            emb = _normalised(emb)
        if not np.all(np.isfinite(boxes)) or not np.all(np.isfinite(score)):
            raise InvalidInputError("boxes and scores must be finite")

        self._advance_all(frame_index)
        s = self.settings
        high = np.flatnonzero(score >= s.high_score)
        low = np.flatnonzero((score >= s.low_score) & (score < s.high_score))
        confirmed = [t for t in self._tracks if t.state in (TrackState.TRACKED, TrackState.LOST)]
        tentative = [t for t in self._tracks if t.state is TrackState.TENTATIVE]
        owner: dict[int, _Track] = {}

        # Stage 1: confident detections against every confirmed track.
        pairs, free_tracks, free_high = self._associate(
            confirmed, high, boxes, classes, emb, s.match_iou
        )
        owner.update(pairs)
        if s.reid_similarity is not None and emb is not None:
            pairs, free_tracks, free_high = self._reidentify(
                free_tracks, free_high, classes, emb, s.reid_similarity
            )
            owner.update(pairs)
        # Stage 2: weak detections may only extend tracks that were live a moment ago; a
        # lost track is reclaimed by confident detections alone.
        recent = [t for t in free_tracks if t.state is TrackState.TRACKED]
        pairs, _, _ = self._associate(recent, low, boxes, classes, None, s.low_match_iou)
        owner.update(pairs)
        # Stage 3: leftover confident detections confirm tentative tracks.
        pairs, stale, unclaimed = self._associate(
            tentative, free_high, boxes, classes, emb, s.tentative_match_iou
        )
        owner.update(pairs)

        for row, track in owner.items():
            self._hit(track, boxes[row], float(score[row]), None if emb is None else emb[row])
        for track in stale:
            # A tentative track must be matched on consecutive detection frames.
            track.state = TrackState.REMOVED
        for row in unclaimed:
            owner[int(row)] = self._start(
                boxes[row], float(score[row]), int(classes[row]), emb, int(row)
            )
        for track in self._tracks:
            if track.state is TrackState.TRACKED and track.last_hit_index < frame_index:
                track.state = TrackState.LOST
                track.kalman.stop_resizing()
        self._retire(frame_index)

        ids = np.full(n, UNTRACKED, np.int64)
        for row, track in owner.items():
            if track.state is TrackState.TRACKED:
                ids[row] = track.track_id
        return ids

    # ------------------------------------------------------------------ internals

    def _advance_all(self, frame_index: int) -> None:
        if self._last_index is not None and frame_index < self._last_index:
            raise InvalidInputError(
                f"frame index went backwards ({self._last_index} -> {frame_index}); "
                "call reset() for a new video"
            )
        self._last_index = frame_index
        self.ended_track_ids = ()
        for track in self._tracks:
            steps = frame_index - track.state_index
            for _ in range(steps):
                track.kalman.predict()
            track.state_index = frame_index

    def _retire(self, frame_index: int) -> None:
        ended: list[int] = list(self.ended_track_ids)
        keep: list[_Track] = []
        for track in self._tracks:
            if (
                track.state is TrackState.LOST
                and frame_index - track.last_hit_index > self.settings.max_age
            ):
                track.state = TrackState.REMOVED
            if track.state is TrackState.REMOVED:
                if track.track_id != UNTRACKED:
                    ended.append(track.track_id)
                continue
            keep.append(track)
        self._tracks = keep
        self.ended_track_ids = tuple(ended)

    def _associate(
        self,
        tracks: list[_Track],
        rows: IntArray,
        boxes: FloatArray,
        classes: IntArray,
        emb: npt.NDArray[np.float32] | None,
        min_iou: float,
    ) -> tuple[dict[int, _Track], list[_Track], IntArray]:
        """Hungarian matching; returns (row -> track, unmatched tracks, unmatched rows)."""
        if not tracks or rows.size == 0:
            return {}, list(tracks), rows
        track_boxes = np.stack([t.xyxy for t in tracks])
        iou = box_iou(track_boxes, boxes[rows]).astype(np.float64)
        cost = 1.0 - iou
        feasible = iou >= min_iou
        track_classes = np.array([t.class_id for t in tracks])
        feasible &= track_classes[:, None] == classes[rows][None, :]
        w = self.settings.appearance_weight
        if emb is not None and w > 0:
            for i, track in enumerate(tracks):
                if track.embedding is None:
                    continue
                similarity = emb[rows] @ track.embedding
                cost[i] = (1.0 - w) * cost[i] + w * (1.0 - similarity)
                feasible[i] &= similarity >= self.settings.min_appearance_similarity
        cost = np.where(feasible, cost, _INFEASIBLE)
        from scipy.optimize import linear_sum_assignment

        track_idx, det_idx = linear_sum_assignment(cost)
        matched: dict[int, _Track] = {}
        used_tracks: set[int] = set()
        for ti, di in zip(track_idx, det_idx, strict=True):
            if feasible[ti, di]:
                matched[int(rows[di])] = tracks[ti]
                used_tracks.add(int(ti))
        free_tracks = [t for i, t in enumerate(tracks) if i not in used_tracks]
        free_rows = np.array([r for r in rows if int(r) not in matched], np.int64)
        return matched, free_tracks, free_rows

    def _reidentify(
        self,
        tracks: list[_Track],
        rows: IntArray,
        classes: IntArray,
        emb: npt.NDArray[np.float32],
        min_similarity: float,
    ) -> tuple[dict[int, _Track], list[_Track], IntArray]:
        """Appearance-only matching for what overlap could not link."""
        candidates = [t for t in tracks if t.embedding is not None]
        if not candidates or rows.size == 0:
            return {}, list(tracks), rows
        bank = np.stack([t.embedding for t in candidates if t.embedding is not None])
        similarity = bank.astype(np.float64) @ emb[rows].T.astype(np.float64)
        feasible = similarity >= min_similarity
        track_classes = np.array([t.class_id for t in candidates])
        feasible &= track_classes[:, None] == classes[rows][None, :]
        cost = np.where(feasible, 1.0 - similarity, _INFEASIBLE)
        from scipy.optimize import linear_sum_assignment

        track_idx, det_idx = linear_sum_assignment(cost)
        matched: dict[int, _Track] = {}
        for ti, di in zip(track_idx, det_idx, strict=True):
            if feasible[ti, di]:
                matched[int(rows[di])] = candidates[ti]
        used = {id(t) for t in matched.values()}
        free_tracks = [t for t in tracks if id(t) not in used]
        free_rows = np.array([r for r in rows if int(r) not in matched], np.int64)
        return matched, free_tracks, free_rows

    def _hit(
        self,
        track: _Track,
        xyxy: FloatArray,
        score: float,
        embedding: npt.NDArray[np.float32] | None,
    ) -> None:
        track.kalman.update(xyxy_to_cxcywh(xyxy)[0])
        track.last_hit_index = track.state_index
        track.score = score
        track.hits += 1
        if embedding is not None:
            if track.embedding is None:
                track.embedding = embedding.copy()
            else:
                m = self.settings.embedding_momentum
                mixed = m * track.embedding + (1.0 - m) * embedding
                track.embedding = _normalised(mixed[None, :])[0]
        if track.state is TrackState.TENTATIVE:
            if track.hits >= self.settings.min_hits:
                self._confirm(track)
        else:
            track.state = TrackState.TRACKED

    def _confirm(self, track: _Track) -> None:
        track.state = TrackState.TRACKED
        track.track_id = self._next_id
        self._next_id += 1
        log.debug("track %d confirmed at frame %d", track.track_id, track.state_index)

    def _start(
        self,
        xyxy: FloatArray,
        score: float,
        class_id: int,
        emb: npt.NDArray[np.float32] | None,
        row: int,
    ) -> _Track:
        index = self._last_index if self._last_index is not None else 0
        track = _Track(
            kalman=BoxKalman.start(xyxy_to_cxcywh(xyxy)[0]),
            state_index=index,
            last_hit_index=index,
            score=score,
            class_id=class_id,
            embedding=None if emb is None else emb[row].copy(),
        )
        if self.settings.min_hits <= 1:
            self._confirm(track)
        self._tracks.append(track)
        return track
