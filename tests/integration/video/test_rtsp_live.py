"""The live pipeline against a real RTSP server (GStreamer, started and stopped here): events
flow; a server killed and restarted, a stall, garbage on the port and a resolution change are
all survived. Mock face models keep it fast; the mock detector sees a face in any picture."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.builders import Staff, make_staff
from watchkeeper.config.cameras import CameraSettings, ReconnectSettings
from watchkeeper.core.errors import SourceError
from watchkeeper.events.model import Event
from watchkeeper.events.outbox import EventLog
from watchkeeper.runtime.local import CameraRunner, RunnerStats
from watchkeeper.service.video_tracks import StepResult
from watchkeeper.sources.stream import StreamSource

from .conftest import RtspFactory, free_port

pytestmark = pytest.mark.rtsp

FAST = ReconnectSettings(initial_delay_s=0.2, multiplier=1.5, max_delay_s=1.0)
WAIT_S = 30.0  # generous upper bound for a condition, never a measured duration


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    site = make_staff(tmp_path / "home", four_eyes=False)
    yield site
    site.engine.close()


class Watch:
    """A runner in a thread with a frame log the test can wait on."""

    def __init__(self, staff: Staff, port: int, read_timeout_s: float = 2.0) -> None:
        camera = CameraSettings(
            camera_id="cam1",
            source=f"rtsp://127.0.0.1:{port}/live",
            detection_interval=3,
            read_timeout_s=read_timeout_s,
            open_timeout_s=3.0,
            reconnect=FAST,
        )
        session = staff.engine.video.watch(staff.operator, camera, purpose="test watch")
        self.events: list[Event] = []
        self.sizes: list[tuple[int, int]] = []
        self.frames = 0
        self._changed = threading.Condition()
        self.runner = CameraRunner(
            staff.engine,
            session,
            on_event=self.events.append,
            on_step=self._step,
            detect_in_worker=False,
        )
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.runner.run()
        except BaseException as exc:  # the test reports it
            self.error = exc

    def _step(self, step: StepResult, _stats: RunnerStats) -> None:
        with self._changed:
            self.frames += 1
            self.sizes.append(step.frame.resolution_wh)
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[], bool]) -> None:
        with self._changed:
            if not self._changed.wait_for(condition, timeout=WAIT_S):
                raise AssertionError(f"condition not met; {self.frames} frames so far")

    def frames_beyond(self, count: int) -> None:
        self.wait_for(lambda: self.frames >= count)

    def stop(self) -> RunnerStats:
        self.runner.stop()
        self.thread.join(WAIT_S)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        return self.runner.stats


def test_stream_frames_become_track_events_and_a_sighting(
    staff: Staff, rtsp_server: RtspFactory
) -> None:
    server = rtsp_server()
    watch = Watch(staff, server.port)
    watch.frames_beyond(20)
    stats = watch.stop()
    kinds = [e.kind for e in watch.events]
    assert kinds[0] == "track_started" and kinds[-1] == "track_ended"
    assert stats.errors == 0 and stats.detections >= 6
    stored = [e.event.kind for e in EventLog(staff.engine.store.conn).recent()]
    assert stored == kinds  # everything printed was stored, in order
    assert len(staff.engine.video.sightings.recent()) == 1


def test_server_killed_and_restarted_events_resume(staff: Staff, rtsp_server: RtspFactory) -> None:
    server = rtsp_server()
    watch = Watch(staff, server.port)
    watch.frames_beyond(15)
    server.stop()
    before = watch.frames
    rtsp_server(server.port)
    watch.frames_beyond(before + 20)
    stats = watch.stop()
    source = watch.runner.source
    assert isinstance(source, StreamSource) and source.reconnects >= 1
    assert stats.errors == 0
    stored = EventLog(staff.engine.store.conn).recent()
    assert [e.event.kind for e in stored] == [e.kind for e in watch.events]
    assert stored[-1].event.kind == "track_ended"


def test_a_stalled_stream_is_reopened(staff: Staff, rtsp_server: RtspFactory) -> None:
    server = rtsp_server()
    watch = Watch(staff, server.port, read_timeout_s=1.0)
    watch.frames_beyond(10)
    os.kill(server.process.pid, signal.SIGSTOP)  # the server hangs: no data, socket open
    source = watch.runner.source
    assert isinstance(source, StreamSource)
    try:
        deadline = threading.Event()
        for _ in range(int(WAIT_S / 0.1)):
            if source.reconnects >= 1:
                break
            deadline.wait(0.1)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    assert source.reconnects >= 1
    before = watch.frames
    watch.frames_beyond(before + 10)
    assert watch.stop().errors == 0


def test_garbage_on_the_port_then_a_real_server(staff: Staff, rtsp_server: RtspFactory) -> None:
    port = free_port()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen()
    served = threading.Event()

    def babble() -> None:
        while not served.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"\x00\xffRTSP/9.9 999 NONSENSE\r\n\r\n" + os.urandom(2048))
            served.set()

    threading.Thread(target=babble, daemon=True).start()
    watch = Watch(staff, port)
    assert served.wait(WAIT_S)
    listener.close()
    rtsp_server(port)
    watch.frames_beyond(10)
    assert watch.stop().errors == 0
    assert watch.runner.source.reconnects >= 1  # type: ignore[attr-defined]


def test_resolution_change_is_followed(staff: Staff, rtsp_server: RtspFactory) -> None:
    server = rtsp_server(arg="320x240")
    watch = Watch(staff, server.port)
    watch.frames_beyond(10)
    server.stop()
    rtsp_server(server.port, arg="480x360")
    watch.wait_for(lambda: watch.sizes.count((480, 360)) >= 10)
    assert watch.stop().errors == 0
    assert watch.sizes[0] == (320, 240)


def test_a_stream_that_never_comes_up_ends_with_a_clear_error() -> None:
    source = StreamSource(
        f"rtsp://127.0.0.1:{free_port()}/live",
        open_timeout_s=1.0,
        reconnect=ReconnectSettings(initial_delay_s=0.05, max_attempts=2),
    )
    with source, pytest.raises(SourceError, match="2 reconnect attempts failed"):
        next(iter(source))
