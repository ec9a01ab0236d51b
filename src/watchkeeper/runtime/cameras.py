"""Running the service's cameras: one worker process per enabled camera, and its live picture.

The API's engine holds one SQLite connection whose use is serialised for request handling, so a
camera must not run on it. Each camera instead runs :class:`~watchkeeper.runtime.local.CameraRunner`
in its own process (``spawn`` start method) with its own :class:`Engine` on the same data
directory; SQLite's WAL journal lets both write, one transaction at a time. The camera thus uses
another core and never holds up a request.

The worker sends back, through a small queue, its state and its latest picture with overlays
(face boxes, track number, a matched name only as "candidate", "unknown" otherwise) as a JPEG,
at most ``publish_fps`` times a second. The service keeps only the newest picture per camera, so
memory stays bounded however slow the viewers are. A camera that fails to open reports
``failed`` with the reason (the source URL's password masked) and the service carries on.

Example::

    supervisor = CameraSupervisor(settings, threshold=None)
    supervisor.start(record, owner)
    supervisor.snapshot("door")        # LiveFrame | None
    supervisor.stop_all()
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.synchronize import Event as MpEvent
from types import TracebackType
from typing import TYPE_CHECKING, Self

from watchkeeper.config.cameras import CameraSettings, SourceKind
from watchkeeper.config.settings import Settings
from watchkeeper.core import Faces, Frame, Objects
from watchkeeper.governance.authz import Principal
from watchkeeper.service.cameras import CameraState, CameraStatus, LiveFrame
from watchkeeper.sources.base import VideoSource
from watchkeeper.sources.stream import redact_url

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from watchkeeper.runtime.local import RunnerStats
    from watchkeeper.service.counting import CountingPipeline
    from watchkeeper.service.video_tracks import StepResult
    from watchkeeper.store.cameras import CameraRecord

log = logging.getLogger(__name__)

__all__ = [
    "CameraSupervisor",
    "LoopingSource",
    "WorkerSpec",
    "draw_overlay",
]


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything a camera worker process needs (picklable: it crosses to the new process)."""

    settings: Settings
    camera: CameraSettings
    watcher: Principal
    watchlist: str | None
    purpose: str
    loop: bool = False
    threshold: float | None = None
    publish_fps: float = 5.0
    max_side_px: int = 960
    jpeg_quality: int = 75
    stall_after_s: float = 3.0


@dataclass(frozen=True, slots=True)
class _Update:
    """What a worker sends: its status, and a new picture when there is one."""

    status: CameraStatus
    jpeg: bytes | None = None
    width_px: int = 0
    height_px: int = 0


# -- the picture ------------------------------------------------------------------------------


def draw_overlay(
    frame: Frame,
    faces: Faces,
    names: dict[int, str],
    *,
    objects: Objects | None = None,
    max_side_px: int = 960,
    quality: int = 75,
) -> tuple[bytes, int, int]:
    """``frame`` with a box per face, its track and "candidate: NAME" or "unknown", as JPEG.

    Counted ``objects`` (people, vehicles, animals) get thin green boxes with class and track.
    Returns the JPEG and its width and height in pixels (after downscaling to ``max_side_px``).
    """
    from PIL import Image, ImageDraw

    picture = Image.fromarray(frame.image)
    h, w = frame.image.shape[:2]
    scale = min(1.0, max_side_px / max(h, w))
    if scale < 1.0:
        picture = picture.resize((max(1, round(w * scale)), max(1, round(h * scale))))
    draw = ImageDraw.Draw(picture)
    stroke = max(2, round(max(picture.size) / 240))
    if objects is not None:
        for i, label in enumerate(objects.class_name):
            x1, y1, x2, y2 = (float(v) * scale for v in objects.xyxy[i])
            if objects.track_id is not None:
                label = f"{label} #{int(objects.track_id[i])}"
            draw.rectangle((x1, y1, x2, y2), outline=(60, 220, 90), width=max(1, stroke // 2))
            draw.text((x1 + 2, y1 + 2), label, fill=(60, 220, 90))
    for i in range(len(faces)):
        x1, y1, x2, y2 = (float(v) * scale for v in faces.xyxy[i])
        track = None if faces.track_id is None else int(faces.track_id[i])
        name = names.get(track) if track is not None else None
        colour = (255, 176, 0) if name else (0, 200, 255)
        label = f"candidate: {name}" if name else "unknown"
        if track is not None:
            label = f"#{track} {label}"
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=stroke)
        text_y = max(0.0, y1 - 12)
        box = draw.textbbox((x1, text_y), label)
        draw.rectangle(box, fill=(0, 0, 0))
        draw.text((x1, text_y), label, fill=colour)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue(), picture.size[0], picture.size[1]


# -- looping a file ---------------------------------------------------------------------------


class LoopingSource:
    """Plays recorded footage at its own pace, once or (``repeat``) again and again.

    A file decodes far faster than it was filmed; a live view of it should run at filmed speed,
    so each frame waits until its presentation time has come (``paced``). Tracks and sightings
    need time to move forward, so each repeat is shifted to start one frame after the last frame
    of the previous pass. An empty source ends the loop instead of spinning.
    """

    def __init__(
        self,
        open_source: Callable[[], VideoSource],
        source_id: str,
        *,
        repeat: bool = True,
        paced: bool = True,
    ) -> None:
        self._open = open_source
        self._source_id = source_id
        self.repeat = repeat
        self.paced = paced
        self._current: VideoSource | None = None
        self._stop = threading.Event()

    @property
    def source_id(self) -> str:
        return self._source_id

    @property
    def nominal_fps(self) -> float | None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def request_stop(self) -> None:
        self._stop.set()
        current = self._current
        request = getattr(current, "request_stop", None)
        if callable(request):
            request()

    def __iter__(self) -> Iterator[Frame]:
        index_offset, pts_offset_s = 0, 0.0
        started = time.monotonic()
        while not self._stop.is_set():
            last: Frame | None = None
            step_s = 0.0
            self._current = self._open()
            with self._current as source:
                for frame in source:
                    if last is not None:
                        step_s = max(step_s, frame.pts_s - last.pts_s)
                    last = frame
                    pts_s = frame.pts_s + pts_offset_s
                    if self.paced:
                        wait_s = pts_s - (time.monotonic() - started)
                        if wait_s > 0 and self._stop.wait(wait_s):
                            return
                    yield dataclasses.replace(frame, index=frame.index + index_offset, pts_s=pts_s)
                    if self._stop.is_set():
                        return
            self._current = None
            if last is None or not self.repeat:
                return
            index_offset += last.index + 1
            pts_offset_s += last.pts_s + (step_s or 0.04)

    def close(self) -> None:
        current, self._current = self._current, None
        if current is not None:
            current.close()


# -- the worker process -----------------------------------------------------------------------


def _masked(text: str, camera: CameraSettings) -> str:
    return text.replace(camera.source, redact_url(camera.source))


class _Publisher:
    """The worker's side of the queue: status always, pictures at a bounded rate."""

    def __init__(self, spec: WorkerSpec, out: Queue[_Update]) -> None:
        self.spec = spec
        self.out = out
        self.camera_id = spec.camera.camera_id
        self.state = CameraState.STARTING
        self.frames = 0
        self.fps = 0.0
        self.faces = 0
        self.error: str | None = None
        self.last_frame_monotonic = time.monotonic()
        self.last_picture_monotonic = 0.0
        self.names: dict[int, str] = {}
        self.counting: CountingPipeline | None = None
        self.counted_frames = 0
        self._lock = threading.Lock()

    def status(self) -> CameraStatus:
        return CameraStatus(
            self.camera_id, self.state, self.frames, round(self.fps, 2), self.faces, self.error
        )

    def send(self, update: _Update, *, must_arrive: bool = False) -> None:
        try:
            if must_arrive:
                self.out.put(update, timeout=5.0)
            else:
                self.out.put_nowait(update)
        except queue.Full:
            # The service reads continuously; a full queue means it is busy, and a dropped
            # picture is replaced by the next one.
            pass

    def set_state(self, state: CameraState, error: str | None = None) -> None:
        with self._lock:
            self.state = state
            if error is not None:
                self.error = _masked(error, self.spec.camera)
            status = self.status()
        self.send(_Update(status), must_arrive=True)

    def on_step(self, step: StepResult, stats: RunnerStats, engine: object) -> None:
        now = time.monotonic()
        with self._lock:
            self.frames, self.fps, self.faces = stats.frames, stats.recent_fps, len(step.faces)
            self.last_frame_monotonic = now
            if self.state is not CameraState.RUNNING:
                self.state = CameraState.RUNNING
        for summary in step.decided:
            self._name(summary.track_id, summary.identity.identity_id, engine)
        objects = self._count(step.frame)
        if now - self.last_picture_monotonic < 1.0 / self.spec.publish_fps:
            return
        self.last_picture_monotonic = now
        jpeg, w, h = draw_overlay(
            step.frame,
            step.faces,
            self.names,
            objects=objects,
            max_side_px=self.spec.max_side_px,
            quality=self.spec.jpeg_quality,
        )
        with self._lock:
            status = self.status()
        self.send(_Update(status, jpeg, w, h))

    def _count(self, frame: Frame) -> Objects | None:
        """Counting on this frame (its events stored as they happen), if the camera counts."""
        if self.counting is None:
            return None
        from watchkeeper.core.errors import WatchkeeperError

        try:
            counts = self.counting.process(frame)
        except WatchkeeperError as exc:
            # Counting is a side job of the camera: a failure shows, faces carry on.
            with self._lock:
                self.error = _masked(f"counting: {exc}", self.spec.camera)
            log.warning("camera %s: counting failed on a frame: %s", self.camera_id, exc)
            return None
        self.counted_frames += 1
        return counts.objects

    def finish_counting(self) -> None:
        """End of the stream: open zone visits end and their events are stored."""
        if self.counting is not None and self.counted_frames:
            self.counting.close()

    def _name(self, track_id: int, identity_id: str | None, engine: object) -> None:
        from watchkeeper.service.engine import Engine

        if identity_id is None or not isinstance(engine, Engine):
            return
        try:
            self.names[track_id] = engine.store.get_identity(identity_id).display_name
        except Exception:  # a name for the overlay is never worth a crash
            self.names[track_id] = identity_id

    def watch_for_stalls(self, stopped: threading.Event) -> None:
        """Running but no frame for a while: the stream is being reopened."""
        while not stopped.wait(0.5):
            with self._lock:
                quiet_s = time.monotonic() - self.last_frame_monotonic
                stalled = self.state is CameraState.RUNNING and quiet_s > self.spec.stall_after_s
            if stalled:
                self.set_state(CameraState.RECONNECTING)


def _worker_main(spec: WorkerSpec, out: Queue[_Update], stop: MpEvent) -> None:
    """Entry point of a camera's worker process (module level, so ``spawn`` can import it)."""
    from watchkeeper.runtime.local import CameraRunner
    from watchkeeper.service.engine import Engine
    from watchkeeper.sources.factory import open_source

    camera = spec.camera
    publisher = _Publisher(spec, out)
    publisher.set_state(CameraState.STARTING)
    stopped = threading.Event()
    try:
        with Engine(spec.settings, threshold=spec.threshold) as engine:
            session = engine.video.watch(spec.watcher, camera, spec.watchlist, spec.purpose)
            recorded = camera.resolved_kind in (SourceKind.FILE, SourceKind.FOLDER)
            source: VideoSource = (
                LoopingSource(lambda: open_source(camera), camera.camera_id, repeat=spec.loop)
                if recorded
                else open_source(camera)
            )
            if camera.counting is not None:
                from watchkeeper.service.counting import CountingPipeline, detector_for
                from watchkeeper.store.counting import CountingRecords

                publisher.counting = CountingPipeline(
                    camera,
                    detector_for(camera.counting),
                    records=CountingRecords(engine.store),
                )
            runner = CameraRunner(
                engine,
                session,
                source=source,
                on_step=lambda step, stats: publisher.on_step(step, stats, engine),
                # This process is already the camera's own; a further detector process would
                # compete for the same cores.
                detect_in_worker=False,
            )

            def stop_when_asked() -> None:
                # Poll rather than wait: a process that dies while waiting on a multiprocessing
                # Event leaves it unable to be set without hanging the setter.
                while not stop.is_set():
                    if stopped.wait(0.2):
                        return
                runner.stop()

            threading.Thread(target=stop_when_asked, daemon=True).start()
            threading.Thread(
                target=publisher.watch_for_stalls, args=(stopped,), daemon=True
            ).start()
            runner.run()
            publisher.finish_counting()
        stopped.set()
        publisher.set_state(CameraState.STOPPED)
    except Exception as exc:  # a failed camera reports why instead of just dying
        stopped.set()
        log.warning("camera %s failed: %s", camera.camera_id, _masked(str(exc), camera))
        publisher.set_state(CameraState.FAILED, f"{type(exc).__name__}: {exc}")
    finally:
        stopped.set()


# -- the service's side -----------------------------------------------------------------------


@dataclass
class _Worker:
    camera_id: str
    spec: WorkerSpec
    process: SpawnProcess
    queue: Queue[_Update]
    stop: MpEvent
    reader: threading.Thread | None = None


class CameraSupervisor:
    """Starts, stops and watches the camera workers of one service; keeps their latest picture.

    Thread-safe: routes call it from their worker threads.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        threshold: float | None = None,
        publish_fps: float = 5.0,
        max_side_px: int = 960,
    ) -> None:
        self.settings = settings
        self.threshold = threshold
        self.publish_fps = publish_fps
        self.max_side_px = max_side_px
        self._ctx: SpawnContext = multiprocessing.get_context("spawn")
        self._workers: dict[str, _Worker] = {}
        self._status: dict[str, CameraStatus] = {}
        # Reconnects and failures per camera since the service started (a restart keeps them).
        self._tallies: dict[str, tuple[int, int]] = {}
        self._frames: dict[str, LiveFrame] = {}
        self._seq = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    # -- control -----------------------------------------------------------------------------
    def start(self, camera: CameraRecord, watcher: Principal) -> None:
        """Start ``camera``'s worker; a running one restarts only if what it runs changed."""
        spec = WorkerSpec(
            settings=self.settings,
            camera=camera.settings,
            watcher=watcher,
            watchlist=camera.watchlist,
            purpose=camera.purpose,
            loop=camera.loop,
            threshold=self.threshold,
            publish_fps=self.publish_fps,
            max_side_px=self.max_side_px,
        )
        with self._lock:
            running = self._workers.get(camera.camera_id)
        if running is not None and running.spec == spec and running.process.is_alive():
            return  # a new name or owner note changes nothing the worker does
        self.stop(camera.camera_id)
        out: Queue[_Update] = self._ctx.Queue(maxsize=8)
        stop = self._ctx.Event()
        process = self._ctx.Process(
            target=_worker_main,
            args=(spec, out, stop),
            name=f"watchkeeper-camera-{camera.camera_id}",
            daemon=True,
        )
        worker = _Worker(camera.camera_id, spec, process, out, stop)
        with self._lock:
            self._workers[camera.camera_id] = worker
            self._frames.pop(camera.camera_id, None)
            self._set_status(CameraStatus(camera.camera_id, CameraState.STARTING))
            self._changed.notify_all()
        process.start()
        worker.reader = threading.Thread(
            target=self._read, args=(worker,), name=f"camera-reader-{camera.camera_id}", daemon=True
        )
        worker.reader.start()
        log.info("camera %s started (%s)", camera.camera_id, redact_url(camera.settings.source))

    def mark_failed(self, camera_id: str, reason: str) -> None:
        """Show a camera that could not be started (say, its owner lost the right to run it)."""
        with self._lock:
            self._set_status(CameraStatus(camera_id, CameraState.FAILED, last_error=reason))
            self._changed.notify_all()

    def stop(self, camera_id: str, timeout_s: float = 15.0) -> None:
        """Stop a camera's worker: live tracks are closed into sightings before it exits."""
        with self._lock:
            worker = self._workers.pop(camera_id, None)
        if worker is None:
            return
        worker.stop.set()
        worker.process.join(timeout_s)
        if worker.process.is_alive():
            log.warning("camera %s did not stop in %.0f s; terminating it", camera_id, timeout_s)
            worker.process.terminate()
            worker.process.join(2.0)
        if worker.reader is not None:
            worker.reader.join(2.0)
        with self._lock:
            current = self._status.get(camera_id)
            if current is None or current.state not in (CameraState.STOPPED, CameraState.FAILED):
                error = None if current is None else current.last_error
                self._set_status(
                    CameraStatus(
                        camera_id,
                        CameraState.STOPPED,
                        frames=0 if current is None else current.frames,
                        last_error=error,
                    )
                )
            self._changed.notify_all()

    def forget(self, camera_id: str) -> None:
        """Stop a removed camera and drop what is known of it."""
        self.stop(camera_id)
        with self._lock:
            self._status.pop(camera_id, None)
            self._tallies.pop(camera_id, None)
            self._frames.pop(camera_id, None)
            self._changed.notify_all()

    def stop_all(self, timeout_s: float = 15.0) -> None:
        """Stop every camera (in parallel, so shutdown takes one camera's time, not the sum)."""
        with self._lock:
            ids = list(self._workers)
        for camera_id in ids:
            with self._lock:
                worker = self._workers.get(camera_id)
            if worker is not None:
                worker.stop.set()
        for camera_id in ids:
            self.stop(camera_id, timeout_s)

    # -- what the routes read ----------------------------------------------------------------
    def status(self, camera_id: str) -> CameraStatus:
        with self._lock:
            found = self._status.get(camera_id)
        return found or CameraStatus(camera_id, CameraState.STOPPED)

    def statuses(self) -> list[CameraStatus]:
        """Every camera this supervisor knows, by id (for the service's metrics)."""
        with self._lock:
            return [self._status[camera_id] for camera_id in sorted(self._status)]

    def snapshot(self, camera_id: str) -> LiveFrame | None:
        with self._lock:
            return self._frames.get(camera_id)

    def running(self, camera_id: str) -> bool:
        with self._lock:
            worker = self._workers.get(camera_id)
        return worker is not None and worker.process.is_alive()

    def wait_frame(self, camera_id: str, after_seq: int, timeout_s: float) -> LiveFrame | None:
        """The newest picture newer than ``after_seq``, waiting up to ``timeout_s`` for one."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                frame = self._frames.get(camera_id)
                if frame is not None and frame.seq > after_seq:
                    return frame
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    # -- reading a worker's queue ------------------------------------------------------------
    def _read(self, worker: _Worker) -> None:
        while True:
            try:
                update = worker.queue.get(timeout=0.25)
            except queue.Empty:
                if not worker.process.is_alive():
                    self._drain(worker)
                    self._exited(worker)
                    break
                continue
            except (EOFError, OSError):
                break
            self._apply(worker.camera_id, update)
        with contextlib.suppress(Exception):
            worker.queue.close()

    def _exited(self, worker: _Worker) -> None:
        code = worker.process.exitcode
        with self._lock:
            last = self._status.get(worker.camera_id)
            if last is None or last.state in (CameraState.STOPPED, CameraState.FAILED):
                return
            if code not in (0, None) and not worker.stop.is_set():
                self._set_status(
                    CameraStatus(
                        worker.camera_id,
                        CameraState.FAILED,
                        frames=last.frames,
                        last_error=f"the camera worker ended unexpectedly (exit code {code})",
                    )
                )
                self._changed.notify_all()

    def _drain(self, worker: _Worker) -> None:
        while True:
            try:
                update = worker.queue.get_nowait()
            except (queue.Empty, EOFError, OSError):
                return
            self._apply(worker.camera_id, update)

    def _set_status(self, status: CameraStatus) -> None:
        """Keep ``status`` as the camera's latest, counting a move into reconnecting or failed
        (called with the lock held)."""
        camera_id = status.camera_id
        before = self._status.get(camera_id)
        reconnects, failures = self._tallies.get(camera_id, (0, 0))
        moved = before is None or before.state is not status.state
        if moved and status.state is CameraState.RECONNECTING:
            reconnects += 1
        if moved and status.state is CameraState.FAILED:
            failures += 1
        self._tallies[camera_id] = (reconnects, failures)
        self._status[camera_id] = dataclasses.replace(
            status, reconnects=reconnects, failures=failures
        )

    def _apply(self, camera_id: str, update: _Update) -> None:
        with self._lock:
            self._set_status(update.status)
            if update.jpeg is not None:
                self._seq += 1
                self._frames[camera_id] = LiveFrame(
                    camera_id,
                    self._seq,
                    update.jpeg,
                    update.width_px,
                    update.height_px,
                    update.status.updated_at,
                )
            self._changed.notify_all()
