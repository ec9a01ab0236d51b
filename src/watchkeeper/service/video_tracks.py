"""Frames in, face tracks out: detection every Nth frame, tracking between, identity votes.

Two pieces shared by live cameras (``runtime.local``) and footage indexing:

* :class:`DetectionSchedule` decides which frames the detector sees and runs it, optionally in
  a worker process: the main loop keeps decoding while a frame is being searched for faces, and
  frames come back out strictly in order, each with its detections or with none (to be tracked).
  On two cores this lets detection and the rest run side by side.
* :class:`FaceTrackLoop` takes those frames: the tracker links boxes (and predicts them on the
  frames without detections), each tracked face is embedded now and then (every ``embed_every``
  detections of its track, or sooner when the face grew), the embeddings go to a matcher, and
  the answers feed an :class:`IdentityVote`. It reports tracks that started, tracks whose vote
  named someone, and tracks that ended, with what a sighting needs.

Privacy masks and the region of interest apply before anything looks at a frame: detection,
alignment, embedding and crops all work on the masked view.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from watchkeeper.config.cameras import CameraSettings
from watchkeeper.config.settings import Settings
from watchkeeper.core import Decision, Faces, Frame, Match
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.models.base import l2_normalise
from watchkeeper.pipeline.analyzer import FaceAnalyzer
from watchkeeper.pipeline.factory import build_analyzer
from watchkeeper.service.crops import face_crop_jpeg
from watchkeeper.sources.regions import AnalysisView, camera_view
from watchkeeper.tracking.base import UNTRACKED
from watchkeeper.tracking.byte_tracker import BoxTracker, BoxTrackerSettings
from watchkeeper.tracking.evaluate import HOG_TRACKER_SETTINGS
from watchkeeper.tracking.identity import IdentityVote, IdentityVoteSettings, TrackIdentity

log = logging.getLogger(__name__)

Matcher = Callable[[Faces], tuple[Match, ...]]
"""Recognition answers for embedded faces (row-aligned); the watch session provides one."""


def video_settings(settings: Settings) -> Settings:
    """The site settings with detection tuned for video: the configured upsampling every time
    (no portrait-style first pass, which misses small faces beside large ones)."""
    detection = settings.detection.model_copy(
        update={"upsample": settings.video.detection_upsample, "adaptive_upsample": False}
    )
    return settings.model_copy(update={"detection": detection})


# -- detection, optionally in a worker process ------------------------------------------------
_WORKER_ANALYZER: FaceAnalyzer | None = None


def _worker_start(settings: Settings) -> None:
    global _WORKER_ANALYZER
    _WORKER_ANALYZER = build_analyzer(settings)


def _worker_locate(image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], Any]:
    if _WORKER_ANALYZER is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("detector worker not started")
    faces = _WORKER_ANALYZER.locate(image)
    return faces.xyxy, faces.detector_score


@dataclass(frozen=True, slots=True)
class ScheduledFrame:
    """A frame in order; ``view`` and ``detected`` (view pixels) are set where detection ran."""

    frame: Frame
    view: AnalysisView | None
    detected: Faces | None


class DetectionSchedule:
    """Runs the detector on every ``interval``-th frame, in a worker process or inline.

    >>> schedule = DetectionSchedule(analyzer, camera, interval=4)  # doctest: +SKIP
    >>> for item in schedule.run(source): ...  # doctest: +SKIP
    """

    def __init__(
        self,
        analyzer: FaceAnalyzer,
        camera: CameraSettings,
        interval: int,
        settings: Settings | None = None,
        in_worker: bool = False,
        max_pending: int | None = None,
    ) -> None:
        """``settings`` (video-tuned, see :func:`video_settings`) choose the detector; without
        them ``analyzer`` detects inline as configured."""
        if interval < 1:
            raise InvalidInputError("the detection interval must be at least 1")
        self.analyzer = analyzer
        if settings is not None and not in_worker:
            from watchkeeper.models.registry import make_detector

            det = settings.detection
            # Same aligner and embedder; only the detector follows the video settings.
            self.analyzer = FaceAnalyzer(
                make_detector(det.kind, det.upsample),
                analyzer.aligner,
                analyzer.embedder,
                detection=det,
                quality=analyzer.quality,
                mirror_augment=analyzer.mirror_augment,
            )
        self.camera = camera
        self.interval = interval
        self.worker_settings = settings if in_worker else None
        self.max_pending = max_pending or max(2 * interval, 4)
        self._pool: ProcessPoolExecutor | None = None
        self.detections = 0

    def start(self) -> None:
        """Start the worker process (if any) now rather than on the first frame."""
        if self.worker_settings is not None and self._pool is None:
            import multiprocessing

            # spawn, not fork: the parent may hold ONNX Runtime threads and open sockets.
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_start,
                initargs=(self.worker_settings,),
            )
            self._pool.submit(_worker_locate, np.zeros((8, 8, 3), np.uint8)).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _submit(self, view: AnalysisView) -> Future[Any] | Faces:
        self.detections += 1
        if self._pool is None:
            return self.analyzer.locate(view.image)
        return self._pool.submit(_worker_locate, view.image)

    @staticmethod
    def _faces(result: Future[Any] | Faces | None, view: AnalysisView | None) -> Faces | None:
        if result is None:
            return None
        if isinstance(result, Faces):
            return result
        xyxy, score = result.result()
        wh = None if view is None else (int(view.image.shape[1]), int(view.image.shape[0]))
        from watchkeeper.core import FacesMeta

        return Faces(xyxy=xyxy, detector_score=score, meta=FacesMeta(resolution_wh=wh))

    def run(self, frames: Iterable[Frame]) -> Iterator[ScheduledFrame]:
        """Every frame of ``frames`` in order, with detections on every ``interval``-th."""
        self.start()
        pending: deque[tuple[Frame, AnalysisView | None, Future[Any] | Faces | None]] = deque()
        try:
            for count, frame in enumerate(frames):
                if count % self.interval == 0:
                    view = camera_view(frame, self.camera)
                    pending.append((frame, view, self._submit(view)))
                else:
                    pending.append((frame, None, None))
                while pending:
                    head = pending[0][2]
                    waiting = isinstance(head, Future) and not head.done()
                    if waiting and len(pending) <= self.max_pending:
                        break
                    frame_, view_, result = pending.popleft()
                    yield ScheduledFrame(frame_, view_, self._faces(result, view_))
            while pending:
                frame_, view_, result = pending.popleft()
                yield ScheduledFrame(frame_, view_, self._faces(result, view_))
        finally:
            for _, _, result in pending:
                if isinstance(result, Future):
                    result.cancel()


# -- tracks ----------------------------------------------------------------------------------
@dataclass(slots=True)
class _Track:
    track_id: int
    first_at: datetime
    first_pts_s: float
    last_at: datetime
    last_pts_s: float
    frames: int = 0
    detections: int = 0
    best_rank: float = -1.0
    best_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    best_score: float = 0.0
    best_quality: float | None = None
    crop_jpeg: bytes | None = None
    emb_sum: npt.NDArray[np.float32] | None = None
    embedded: int = 0
    last_embed_detection: int = -(10**9)
    last_embed_size_px: float = 0.0
    decided: bool = False


@dataclass(frozen=True, slots=True)
class TrackSummary:
    """A track as a sighting needs it: time span, best crop, mean embedding, vote."""

    camera_id: str
    track_id: int
    first_seen_at: datetime
    last_seen_at: datetime
    first_pts_s: float
    last_pts_s: float
    frames: int
    detections: int
    best_box_xyxy: tuple[float, float, float, float]
    detector_score: float
    quality: float | None
    crop_jpeg: bytes | None
    embedding: npt.NDArray[np.float32] | None
    identity: TrackIdentity

    @property
    def best_similarity(self) -> float | None:
        for support in self.identity.support:
            if support.identity_id == self.identity.identity_id:
                return support.mean_similarity
        return None

    @property
    def vote_share(self) -> float | None:
        for support in self.identity.support:
            if support.identity_id == self.identity.identity_id:
                return support.share
        return None


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one frame changed. ``faces``: every tracked box on this frame (frame pixels)."""

    frame: Frame
    faces: Faces
    detected: bool
    started: tuple[int, ...] = ()
    decided: tuple[TrackSummary, ...] = ()
    ended: tuple[TrackSummary, ...] = field(default_factory=tuple)


class FaceTrackLoop:
    """Tracks, embeddings and identity votes for one camera; see the module docstring."""

    def __init__(
        self,
        analyzer: FaceAnalyzer,
        camera_id: str,
        *,
        matcher: Matcher | None = None,
        embed_every: int = 2,
        min_track_detections: int = 3,
        tracker_settings: BoxTrackerSettings = HOG_TRACKER_SETTINGS,
        vote_settings: IdentityVoteSettings | None = None,
        keep_crops: bool = True,
    ) -> None:
        self.analyzer = analyzer
        self.camera_id = camera_id
        self.matcher = matcher
        self.embed_every = embed_every
        self.min_track_detections = min_track_detections
        self.tracker = BoxTracker(tracker_settings)
        self.vote = IdentityVote(vote_settings)
        self.keep_crops = keep_crops
        self._tracks: dict[int, _Track] = {}
        self.frames = 0

    def step(self, item: ScheduledFrame) -> StepResult:
        """Advance by one frame (with its detections, if the detector ran on it)."""
        frame = item.frame
        self.frames += 1
        decided: list[TrackSummary] = []
        if item.detected is not None and item.view is not None:
            view = item.view
            in_frame = view.faces_to_frame(item.detected)
            tracked = self.tracker.update(in_frame, frame.index)
            if tracked.track_id is None:  # pragma: no cover - update always sets it
                raise InvalidInputError("tracker returned no track ids")
            rows = np.flatnonzero(tracked.track_id != UNTRACKED)
            for row in rows:
                self._touch(int(tracked.track_id[row]), frame).detections += 1
            decided = self._recognise(view, item.detected[rows], tracked[rows], frame)
            shown = tracked[rows]
        else:
            shown = self.tracker.predict(frame.index)
            for tid in shown.track_id if shown.track_id is not None else ():
                self._touch(int(tid), frame)
        started = tuple(
            int(t)
            for t in (shown.track_id if shown.track_id is not None else ())
            if self._tracks[int(t)].frames == 1
        )
        ended = tuple(
            s for s in (self._end(t) for t in self.tracker.ended_track_ids) if s is not None
        )
        return StepResult(frame, shown, item.detected is not None, started, tuple(decided), ended)

    def finish(self) -> tuple[TrackSummary, ...]:
        """End every live track (the footage ended or the watch stops)."""
        out = tuple(s for s in (self._end(t) for t in list(self._tracks)) if s is not None)
        self.tracker.reset()
        return out

    # -- internals ---------------------------------------------------------------------------
    def _touch(self, track_id: int, frame: Frame) -> _Track:
        track = self._tracks.get(track_id)
        if track is None:
            track = _Track(track_id, frame.captured_at, frame.pts_s, frame.captured_at, frame.pts_s)
            self._tracks[track_id] = track
        track.frames += 1
        track.last_at = frame.captured_at
        track.last_pts_s = frame.pts_s
        return track

    def _needs_embedding(self, track: _Track, size_px: float) -> bool:
        if track.embedded == 0:
            return True
        if track.detections - track.last_embed_detection >= self.embed_every:
            return True
        return size_px > 1.25 * track.last_embed_size_px

    def _recognise(
        self, view: AnalysisView, in_view: Faces, in_frame: Faces, frame: Frame
    ) -> list[TrackSummary]:
        """Embed the tracked faces that are due, match them, vote; tracks newly named."""
        if len(in_view) == 0 or in_frame.track_id is None:
            return []
        sizes = in_view.box_size_px
        due = [
            row
            for row in range(len(in_view))
            if self._needs_embedding(self._tracks[int(in_frame.track_id[row])], float(sizes[row]))
        ]
        if not due:
            return []
        image = view.image
        described = self.analyzer.describe(image, in_view[due])
        accepted = described.accepted
        embedded = described.with_columns(track_id=in_frame.track_id[due])
        for i, row in enumerate(due):
            track = self._tracks[int(in_frame.track_id[row])]
            track.last_embed_detection = track.detections
            track.last_embed_size_px = float(sizes[row])
            quality = None if embedded.quality is None else float(embedded.quality[i])
            rank = float(sizes[row]) * (1.0 if accepted[i] else 0.5)
            if rank > track.best_rank:
                track.best_rank = rank
                box = in_frame.xyxy[row]
                track.best_box = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
                track.best_score = float(in_frame.detector_score[row])
                track.best_quality = quality
                if self.keep_crops:
                    track.crop_jpeg = face_crop_jpeg(image, in_view.xyxy[row])
            if accepted[i] and embedded.embedding is not None:
                vec = embedded.embedding[i]
                track.emb_sum = vec.copy() if track.emb_sum is None else track.emb_sum + vec
                track.embedded += 1
            elif track.embedded == 0:
                # Nothing usable yet: try again on the next detection.
                track.last_embed_detection = -(10**9)
        if self.matcher is None:
            return []
        usable = np.flatnonzero(accepted)
        if len(usable) == 0:
            return []
        matches = self.matcher(embedded[usable])
        self.vote.observe_faces(embedded[usable], matches)
        newly: list[TrackSummary] = []
        for tid in {int(t) for t in embedded.track_id[usable]}:  # type: ignore[index]
            track = self._tracks[tid]
            verdict = self.vote.decide(tid)
            if not track.decided and verdict.decision is Decision.MATCH:
                track.decided = True
                newly.append(self._summary(track, verdict))
        return newly

    def _summary(self, track: _Track, verdict: TrackIdentity) -> TrackSummary:
        embedding = None
        if track.emb_sum is not None:
            embedding = l2_normalise(track.emb_sum.reshape(1, -1).astype(np.float32))[0]
        return TrackSummary(
            camera_id=self.camera_id,
            track_id=track.track_id,
            first_seen_at=track.first_at,
            last_seen_at=track.last_at,
            first_pts_s=track.first_pts_s,
            last_pts_s=track.last_pts_s,
            frames=track.frames,
            detections=track.detections,
            best_box_xyxy=track.best_box,
            detector_score=track.best_score,
            quality=track.best_quality,
            crop_jpeg=track.crop_jpeg,
            embedding=embedding,
            identity=verdict,
        )

    def _end(self, track_id: int) -> TrackSummary | None:
        track = self._tracks.pop(int(track_id), None)
        if track is None:
            return None
        verdict = self.vote.decide(track.track_id)
        self.vote.forget(track.track_id)
        if track.detections < self.min_track_detections:
            return None
        return self._summary(track, verdict)
