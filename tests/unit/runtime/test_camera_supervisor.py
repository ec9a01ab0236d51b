"""The camera supervisor: real worker processes on a small video file, on the mock backends."""

from __future__ import annotations

import dataclasses
import io
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.builders import Staff, make_frame, make_staff, mock_settings, pattern_image, save_png

from watchkeeper.config.cameras import CameraSettings, ReconnectSettings
from watchkeeper.core import Faces, Objects
from watchkeeper.runtime.cameras import CameraSupervisor, LoopingSource, draw_overlay
from watchkeeper.service.cameras import CameraDraft, Cameras, CameraState
from watchkeeper.sources.files import ImageFolderSource

# Generous: a spawned worker imports the package and opens its own engine before its first frame.
WAIT_S = 60.0


def write_clip(
    path: Path, frames: int = 20, size: int = 96, seed: int = 3, image: np.ndarray | None = None
) -> Path:
    """A short MJPEG clip of one picture (default: a pattern, the mock detector's 'face')."""
    import av

    image = pattern_image(seed, size=size) if image is None else image
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = size, size, "yuvj420p"
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    site = make_staff(tmp_path / "home", four_eyes=False)
    yield site
    site.engine.close()


def wait_for(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.1)
    pytest.fail(f"gave up waiting for {what}")


def test_a_file_camera_shows_a_live_picture_then_stops_into_a_sighting(
    staff: Staff, tmp_path: Path
) -> None:
    from PIL import Image

    clip = write_clip(tmp_path / "door.avi")
    cams = Cameras(staff.engine)
    record = cams.add(
        staff.operator,
        CameraDraft(CameraSettings(camera_id="door", source=str(clip)), "Door", loop=True),
    )
    supervisor = CameraSupervisor(staff.engine.settings, threshold=0.9)
    plan = cams.plan("door")
    assert plan.record == record
    plan.apply(supervisor)
    try:
        wait_for(lambda: supervisor.snapshot("door") is not None, "a first picture")
        assert supervisor.status("door").state is CameraState.RUNNING
        live = supervisor.snapshot("door")
        assert live is not None
        picture = np.asarray(Image.open(io.BytesIO(live.jpeg)).convert("RGB"))
        assert picture.shape == (96, 96, 3) and (live.width_px, live.height_px) == (96, 96)
        assert picture.std() > 10  # real pixels, not a blank
        newer = supervisor.wait_frame("door", live.seq, timeout_s=WAIT_S)
        assert newer is not None and newer.seq > live.seq
        # Long enough for the tracker to confirm the face as a track worth a sighting.
        wait_for(lambda: supervisor.status("door").frames >= 10, "ten frames")
        # A new name changes nothing the worker does: it keeps running, no restart.
        assert plan.watcher is not None
        supervisor.start(dataclasses.replace(record, name="Front door"), plan.watcher)
        assert supervisor.status("door").state is CameraState.RUNNING
    finally:
        supervisor.stop_all()
    assert supervisor.status("door").state is CameraState.STOPPED
    # Stopping closed the live track into a sighting, and the watch's start and end are audited.
    [sighting] = staff.engine.video.sightings.recent(camera_id="door")
    assert sighting.identity_id is None and sighting.frames > 0
    assert staff.audit_actions().count("video.watch") == 2


def test_a_camera_that_cannot_open_fails_visibly_with_the_password_masked(
    staff: Staff, tmp_path: Path
) -> None:
    supervisor = CameraSupervisor(staff.engine.settings, threshold=0.9)
    cams = Cameras(staff.engine)
    missing = CameraSettings(camera_id="gone", source=str(tmp_path / "missing.avi"))
    secret = CameraSettings(
        camera_id="ipcam",
        # Port 9 on loopback refuses at once; one attempt, then the stream is reported lost.
        source="rtsp://admin:hunter2secret@127.0.0.1:9/live",
        open_timeout_s=1.0,
        reconnect=ReconnectSettings(max_attempts=1, initial_delay_s=0.1),
    )
    for settings in (missing, secret):
        cams.add(staff.operator, CameraDraft(settings, settings.camera_id))
        cams.plan(settings.camera_id).apply(supervisor)
    try:
        for camera_id in ("gone", "ipcam"):
            wait_for(
                lambda c=camera_id: supervisor.status(c).state is CameraState.FAILED,  # type: ignore[misc]
                f"{camera_id} to fail",
            )
    finally:
        supervisor.stop_all()
    gone = supervisor.status("gone")
    assert gone.last_error is not None and "not found" in gone.last_error
    ipcam = supervisor.status("ipcam")
    assert ipcam.last_error is not None and "hunter2secret" not in ipcam.last_error
    assert supervisor.snapshot("gone") is None


def test_looping_keeps_frame_indices_and_times_increasing(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        save_png(pattern_image(i + 1, size=32), folder / f"{i}.png")
    source = LoopingSource(
        lambda: ImageFolderSource(folder, source_id="f", fps=10), "f", paced=False
    )
    frames = []
    with source:
        for frame in source:
            frames.append(frame)
            if len(frames) == 7:
                source.request_stop()
    assert [f.index for f in frames] == list(range(7))
    times = [f.pts_s for f in frames]
    assert all(b > a for a, b in itertools.pairwise(times))


def test_once_ends_with_the_footage(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        save_png(pattern_image(i + 1, size=32), folder / f"{i}.png")
    source = LoopingSource(
        lambda: ImageFolderSource(folder, source_id="f", fps=10), "f", repeat=False, paced=False
    )
    with source:
        assert len(list(source)) == 3


def test_the_overlay_marks_candidates_and_unknowns() -> None:
    from PIL import Image

    frame = make_frame(w=200, h=100, seed=1)
    blank = frame.__class__(np.zeros((100, 200, 3), np.uint8), source_id="x")
    faces = Faces(
        xyxy=np.array([[20, 30, 80, 90], [120, 30, 180, 90]], np.float32),
        detector_score=np.array([0.9, 0.8], np.float32),
        track_id=np.array([1, 2]),
    )
    jpeg, w, h = draw_overlay(blank, faces, {1: "Ada"}, max_side_px=100)
    assert (w, h) == (100, 50)  # downscaled to the longest side
    picture = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(int)
    # The candidate's box is amber, the unknown's cyan: both drawn where the boxes are.
    left_edge, right_edge = picture[30, 10], picture[30, 60]
    assert left_edge[0] > 150 and left_edge[2] < 100
    assert right_edge[2] > 150 and right_edge[0] < 100
    assert frame.image.shape == (100, 200, 3)


def test_a_camera_with_a_watchlist_raises_candidates_for_review(
    staff: Staff, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from watchkeeper.gallery.watchlist import WatchlistTerms

    # The worker keeps real time (its own engine), so the watchlist must be active now.
    staff.clock.now = datetime.now(UTC)
    terms = WatchlistTerms(
        "Door access", "Contracts, clause 7", staff.clock.now + timedelta(days=5)
    )
    staff.engine.watchlists.create(staff.operator, "door-staff", terms)
    staff.engine.enrol(staff.operator, "Ada", pattern_image(3), "door-staff", "consent", "HR")
    # Lossless footage (an image folder at 20 fps): Ada for 12 frames, then an empty scene.
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(20):
        picture = pattern_image(3) if i < 12 else np.zeros((96, 96, 3), np.uint8)
        save_png(picture, folder / f"{i:03d}.png")
    cams = Cameras(staff.engine)
    cams.add(
        staff.operator,
        CameraDraft(
            CameraSettings(camera_id="door", source=str(folder), folder_fps=20),
            "Door",
            watchlist="door-staff",
            purpose="staff door access",
        ),
    )
    supervisor = CameraSupervisor(staff.engine.settings, threshold=0.9)
    cams.plan("door").apply(supervisor)
    try:
        # Played once, the camera stops by itself at the end of the footage.
        ended = (CameraState.STOPPED, CameraState.FAILED)
        wait_for(lambda: supervisor.status("door").state in ended, "the clip end")
    finally:
        supervisor.stop_all()
    assert supervisor.status("door").state is CameraState.STOPPED, supervisor.status("door")
    [candidate] = staff.engine.review.list(staff.reviewer)
    assert candidate.display_name == "Ada" and candidate.probe_source == "door#track1"
    [sighting] = staff.engine.video.sightings.recent(camera_id="door")
    assert sighting.display_name == "Ada" and sighting.watchlist == "door-staff"


class WalkingPerson:
    """An object detector that sees one person walking left to right, 8 px a frame."""

    labels = ("person",)
    manifest = None

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> Objects:
        x = 4.0 + 8.0 * self.calls
        self.calls += 1
        return Objects(
            xyxy=np.array([[x, 30, x + 16, 90]], np.float32),
            confidence=np.array([0.9], np.float32),
            class_id=np.array([0]),
            labels=self.labels,
        )


def test_a_counting_camera_draws_object_boxes_and_stores_counts(
    staff: Staff, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's body run in this process (a plain queue and event stand in for the
    multiprocessing ones), so the object detector can be a fake."""
    import queue
    import threading

    from PIL import Image

    from watchkeeper.config.counting import CountingLine, CountingSettings
    from watchkeeper.runtime import cameras as runtime_cameras
    from watchkeeper.service import counting as service_counting
    from watchkeeper.store.counting import CountingRecords

    monkeypatch.setattr(service_counting, "detector_for", lambda settings: WalkingPerson())
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(12):
        save_png(np.full((120, 120, 3), 90, np.uint8), folder / f"{i:03d}.png")
    camera = CameraSettings(
        camera_id="hall",
        source=str(folder),
        folder_fps=50,
        counting=CountingSettings(lines=(CountingLine.from_spec("48,0,48,120:middle"),)),
    )
    spec = runtime_cameras.WorkerSpec(
        settings=staff.engine.settings,
        camera=camera,
        watcher=staff.operator,
        watchlist=None,
        purpose="",
        threshold=0.9,
        publish_fps=1000.0,
    )
    out: queue.Queue[object] = queue.Queue()
    runtime_cameras._worker_main(spec, out, threading.Event())  # type: ignore[arg-type]
    updates = []
    while not out.empty():
        updates.append(out.get())
    assert updates[-1].status.state is CameraState.STOPPED  # type: ignore[attr-defined]
    pictures = [u for u in updates if u.jpeg is not None]  # type: ignore[attr-defined]
    assert pictures
    last = np.asarray(Image.open(io.BytesIO(pictures[-1].jpeg)).convert("RGB")).astype(int)  # type: ignore[attr-defined]
    green = (last[:, :, 1] > 170) & (last[:, :, 0] < 120) & (last[:, :, 2] < 150)
    assert green.sum() > 20  # the person's box
    crossings = CountingRecords(staff.engine.store).events(camera_id="hall")
    assert [e.kind for e in crossings].count("line_crossed") == 1


def test_the_supervisor_counts_reconnects_and_failures_across_restarts(tmp_path: Path) -> None:
    """What the worker reports is kept as the camera's status, with the moves into
    reconnecting and failed counted (a state reported twice counts once)."""
    from watchkeeper.runtime.cameras import _Update
    from watchkeeper.service.cameras import CameraStatus

    supervisor = CameraSupervisor(mock_settings(tmp_path / "home"))
    assert supervisor.statuses() == []
    supervisor.mark_failed("door", "its owner left")
    reported = [
        CameraState.STARTING,
        CameraState.RUNNING,
        CameraState.RECONNECTING,
        CameraState.RECONNECTING,
        CameraState.RUNNING,
        CameraState.RECONNECTING,
        CameraState.FAILED,
    ]
    for frames, state in enumerate(reported):
        supervisor._apply("door", _Update(CameraStatus("door", state, frames=frames)))
    supervisor.mark_failed("gate", "no stream")
    door, gate = supervisor.statuses()
    assert (door.camera_id, door.state, door.frames) == ("door", CameraState.FAILED, 6)
    assert (door.reconnects, door.failures) == (2, 2)
    assert (gate.reconnects, gate.failures) == (0, 1)
    assert supervisor.status("door") == door
    supervisor.forget("door")
    assert [s.camera_id for s in supervisor.statuses()] == ["gate"]
