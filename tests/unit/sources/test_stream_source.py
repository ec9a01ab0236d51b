"""StreamSource: reconnect with backoff, resolution changes, timeouts and stalls.

No RTSP server here: reconnect logic runs on local files through ``_open_container``, and
timeouts and stalls against tiny local TCP/HTTP servers on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import itertools
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.config.cameras import ReconnectSettings, RtspTransport
from watchkeeper.core.errors import SourceError
from watchkeeper.sources.stream import StreamSource, redact_url

FAST = ReconnectSettings(initial_delay_s=0.1, multiplier=2, max_delay_s=0.3, max_attempts=3)


class ScriptedStream(StreamSource):
    """Each (re)connect opens the next file in the script; ``None`` fails to connect."""

    def __init__(self, script: list[Path | None], **kwargs: Any) -> None:
        self.delays: list[float] = []
        super().__init__("rtsp://user:pw@camera.local/live", sleep=self.delays.append, **kwargs)
        self._script = iter(script)

    def _open_container(self) -> Any:
        import av

        path = next(self._script, None)
        if path is None:
            raise OSError("connection refused")
        return av.open(str(path))


def test_reconnects_with_backoff_and_keeps_counting(
    tmp_path: Path, make_clip: Callable[..., Path]
) -> None:
    small = make_clip(tmp_path / "small.avi", frames=4, size_wh=(64, 48))
    big = make_clip(tmp_path / "big.avi", frames=3, size_wh=(96, 72))
    source = ScriptedStream([small, None, big], source_id="door", reconnect=FAST)
    frames = []
    with source, pytest.raises(SourceError, match="3 reconnect attempts failed"):
        for frame in source:
            frames.append(frame)
    # The camera changed resolution between connections; frames kept flowing at the new size.
    assert [f.resolution_wh for f in frames] == [(64, 48)] * 4 + [(96, 72)] * 3
    assert [f.index for f in frames] == list(range(7))
    assert {f.source_id for f in frames} == {"door"}
    # ended -> 0.1, refused -> 0.2, then the delivered frames reset the count; after the second
    # clip ends three more attempts fail: 0.1, 0.2, 0.3 (capped), 0.3, and then it gives up.
    assert source.delays == pytest.approx([0.1, 0.2, 0.1, 0.2, 0.3])
    assert source.reconnects == 5


def test_unbounded_reconnects_stop_when_closed(
    tmp_path: Path, make_clip: Callable[..., Path]
) -> None:
    clip = make_clip(tmp_path / "c.avi", frames=2)
    source = ScriptedStream([clip] * 50, reconnect=ReconnectSettings(initial_delay_s=0.01))
    frames = list(itertools.islice(iter(source), 7))
    source.close()
    assert len(frames) == 7
    assert [f.index for f in frames] == list(range(7))


def test_backoff_delay_grows_and_caps() -> None:
    policy = ReconnectSettings(initial_delay_s=0.5, multiplier=3, max_delay_s=10)
    assert [policy.delay_s(n) for n in range(1, 6)] == [0.5, 1.5, 4.5, 10.0, 10.0]


def test_rtsp_options_and_redaction() -> None:
    source = StreamSource("rtsp://admin:secret@10.0.0.5/live", rtsp_transport=RtspTransport.UDP)
    assert source.container_options() == {"rtsp_transport": "udp"}
    assert "secret" not in source.source_id
    assert StreamSource("http://10.0.0.5/mjpeg").container_options() == {}
    assert redact_url("rtsp://10.0.0.5/live") == "rtsp://10.0.0.5/live"


@pytest.fixture()
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says anything."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_open_timeout_against_a_silent_server(silent_server: int, scheme: str) -> None:
    delays: list[float] = []
    source = StreamSource(
        f"{scheme}://127.0.0.1:{silent_server}/live",
        open_timeout_s=0.3,
        read_timeout_s=0.3,
        reconnect=ReconnectSettings(initial_delay_s=0.01, max_attempts=1),
        sleep=delays.append,
    )
    with source, pytest.raises(SourceError, match="lost"):
        list(source)
    assert delays == [0.01]


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _clip_handler(
    body: bytes, stall: threading.Event | None, released: list[bool] | None = None
) -> type[Any]:
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            if stall is not None and len(requests) > 1:
                # The stalled camera does not come back.
                self.send_error(503)
                return
            self.send_response(200)
            self.send_header("Content-Type", "video/x-msvideo")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if stall is None:
                self.wfile.write(body)
                return
            # Send the first half, then go quiet without closing: a stalled camera.
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            stall.wait(30)
            if released is not None:
                released.append(True)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def test_http_stream_delivers_frames(tmp_path: Path, make_clip: Callable[..., Path]) -> None:
    body = make_clip(tmp_path / "c.avi", frames=6).read_bytes()
    for port in _serve(_clip_handler(body, None)):
        source = StreamSource(
            f"http://127.0.0.1:{port}/c.avi",
            reconnect=ReconnectSettings(initial_delay_s=0.01),
            sleep=lambda _s: None,
        )
        with source:
            frames = list(itertools.islice(iter(source), 8))
        # Six frames, the clip "ends", the source reconnects and keeps going.
        assert len(frames) == 8
        assert source.reconnects >= 1
        assert frames[0].resolution_wh == (64, 48)


def test_stall_is_detected_by_the_read_timeout(
    tmp_path: Path, make_clip: Callable[..., Path]
) -> None:
    body = make_clip(tmp_path / "c.avi", frames=40).read_bytes()
    stall = threading.Event()
    released: list[bool] = []
    try:
        for port in _serve(_clip_handler(body, stall, released)):
            source = StreamSource(
                f"http://127.0.0.1:{port}/c.avi",
                open_timeout_s=2.0,
                read_timeout_s=0.4,
                reconnect=ReconnectSettings(initial_delay_s=0.01, max_attempts=1),
                sleep=lambda _s: None,
            )
            frames = []
            with source, pytest.raises(SourceError, match="lost"):
                for frame in source:
                    frames.append(frame)
            # Frames from the first half arrived before the stall; then the stall was noticed
            # (the server never closed the connection) and the one retry was refused.
            assert 0 < len(frames) < 40
            assert source.reconnects == 1
            # The server was still holding the connection open: only the timeout ended it.
            assert released == []
    finally:
        stall.set()
