"""The live pipeline for one camera, on this machine.

source -> privacy masks / region of interest -> detection every Nth frame (in a worker process
by default) -> tracker -> embeddings now and then -> identity vote -> events and sightings.

A camera that drops does not stop the pipeline: a stream source reconnects with backoff on its
own, and a failure to store one event is logged and counted, never fatal. Call
:meth:`CameraRunner.stop` (from another thread or a signal handler) to end it cleanly: live
tracks are closed into sightings and the watch's end is audited.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from watchkeeper.config.cameras import CameraSettings
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.events.model import Event
from watchkeeper.service.engine import Engine
from watchkeeper.service.video import WatchSession
from watchkeeper.service.video_tracks import (
    DetectionSchedule,
    FaceTrackLoop,
    StepResult,
    TrackSummary,
    video_settings,
)
from watchkeeper.sources.base import VideoSource
from watchkeeper.sources.factory import open_source

log = logging.getLogger(__name__)

EventCallback = Callable[[Event], None]


@dataclass
class RunnerStats:
    """Live health of a camera runner."""

    frames: int = 0
    detections: int = 0
    events: int = 0
    errors: int = 0
    started_monotonic: float = field(default_factory=time.monotonic)
    recent_fps: float = 0.0

    @property
    def mean_fps(self) -> float:
        elapsed = time.monotonic() - self.started_monotonic
        return self.frames / elapsed if elapsed > 0 else 0.0


class CameraRunner:
    """Runs one camera's pipeline until the source ends or :meth:`stop` is called."""

    def __init__(
        self,
        engine: Engine,
        session: WatchSession,
        *,
        source: VideoSource | None = None,
        on_event: EventCallback | None = None,
        on_step: Callable[[StepResult, RunnerStats], None] | None = None,
        detection_interval: int | None = None,
        detect_in_worker: bool | None = None,
    ) -> None:
        self.engine = engine
        self.session = session
        self.camera: CameraSettings = session.camera
        video = engine.settings.video
        self.interval = detection_interval or (
            self.camera.detection_interval
            if "detection_interval" in self.camera.model_fields_set
            else video.detection_interval
        )
        self.detect_in_worker = (
            video.detect_in_worker if detect_in_worker is None else detect_in_worker
        )
        self.source = source or open_source(self.camera)
        self.on_event = on_event
        self.on_step = on_step
        self.stats = RunnerStats()
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the runner to finish after the current frame (safe from any thread)."""
        self._stop.set()
        request = getattr(self.source, "request_stop", None)
        if callable(request):
            request()

    def _emit(self, event: Event | None) -> None:
        if event is None:
            return
        self.stats.events += 1
        if self.on_event is not None:
            self.on_event(event)

    def _guard(self, what: str, fn: Callable[[], Event | None]) -> None:
        try:
            self._emit(fn())
        except WatchkeeperError:
            self.stats.errors += 1
            log.exception("camera %s: could not %s; carrying on", self.camera.camera_id, what)

    def _ended(self, summary: TrackSummary) -> None:
        self._guard("store a sighting", partial(self._sighting, summary))

    def _sighting(self, summary: TrackSummary) -> Event:
        return self.session.record_sighting(summary)[1]

    def run(self, max_frames: int | None = None) -> RunnerStats:
        """Process frames until the source ends, ``max_frames`` frames, or :meth:`stop`."""
        settings = video_settings(self.engine.settings)
        analyzer = self.engine.analyzer
        schedule = DetectionSchedule(
            analyzer,
            self.camera,
            self.interval,
            settings=settings,
            in_worker=self.detect_in_worker,
        )
        loop = FaceTrackLoop(
            analyzer,
            self.camera.camera_id,
            matcher=self.session.match if self.session.watchlist is not None else None,
            embed_every=settings.video.embed_every,
            min_track_detections=settings.video.min_track_frames,
        )
        window_start, window_frames = time.monotonic(), 0
        try:
            with self.source:
                for item in schedule.run(self.source):
                    step = loop.step(item)
                    self._publish(step)
                    self.stats.frames += 1
                    self.stats.detections += int(step.detected)
                    window_frames += 1
                    now = time.monotonic()
                    if now - window_start >= 1.0:
                        self.stats.recent_fps = window_frames / (now - window_start)
                        window_start, window_frames = now, 0
                    if self.on_step is not None:
                        self.on_step(step, self.stats)
                    if self._stop.is_set() or (
                        max_frames is not None and self.stats.frames >= max_frames
                    ):
                        break
        finally:
            schedule.close()
            for summary in loop.finish():
                self._ended(summary)
            try:
                self.session.close()
            except WatchkeeperError:
                log.exception("camera %s: could not record the end of the watch", self.camera)
        return self.stats

    def _publish(self, step: StepResult) -> None:
        if step.started and step.faces.track_id is not None:
            rows = {int(t): i for i, t in enumerate(step.faces.track_id)}
            for track_id in step.started:
                box = step.faces.xyxy[rows[track_id]]
                xyxy = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
                self._guard("store a track start", partial(self._started, step, track_id, xyxy))
        for summary in step.decided:
            self._guard("queue a candidate", partial(self.session.raise_candidate, summary))
        for summary in step.ended:
            self._ended(summary)

    def _started(
        self, step: StepResult, track_id: int, xyxy: tuple[float, float, float, float]
    ) -> Event:
        return self.session.track_started(track_id, xyxy, step.frame.captured_at)
