"""Live network streams (RTSP, RTSPS, HTTP, RTMP) on PyAV, with reconnect and backoff.

A live stream should never end: when it does (server gone, network cut, stall longer than the
read timeout, or a decode error) the source reopens it after an exponentially growing delay and
frames keep flowing with the same ``source_id`` and a frame index that keeps counting. A frame
whose size differs from the last one (the camera changed resolution) is delivered as is.

For tests against a local server, the clock and sleep functions can be replaced, and a subclass
may override :meth:`StreamSource._open_container`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from watchkeeper.config.cameras import ReconnectSettings, RtspTransport
from watchkeeper.core import Frame
from watchkeeper.core.errors import InvalidInputError, SourceError
from watchkeeper.sources.base import SourceBase
from watchkeeper.sources.files import frame_to_rgb

log = logging.getLogger(__name__)


def redact_url(url: str) -> str:
    """The URL without a ``user:password@`` part, for logs and errors.

    >>> redact_url("rtsp://admin:secret@10.0.0.5:554/live")
    'rtsp://***@10.0.0.5:554/live'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    if "@" in host:
        host = "***@" + host.rsplit("@", 1)[1]
    return f"{scheme}{sep}{host}{slash}{path}"


class StreamSource(SourceBase):
    """Frames from a network stream, reopened with backoff when it fails.

    ``max_attempts`` in ``reconnect`` bounds consecutive failed attempts (a delivered frame resets
    the count); when they run out iteration raises ``SourceError``. ``pts_s`` is seconds since the
    source first opened (monotonic clock), so it keeps increasing across reconnects.
    """

    def __init__(
        self,
        url: str,
        *,
        source_id: str | None = None,
        fps_cap: float | None = None,
        rtsp_transport: RtspTransport = RtspTransport.TCP,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        reconnect: ReconnectSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url:
            raise InvalidInputError("a stream source needs a URL")
        super().__init__(source_id or redact_url(url), fps_cap)
        if open_timeout_s <= 0 or read_timeout_s <= 0:
            raise InvalidInputError("stream timeouts must be positive")
        self.url = url
        self.rtsp_transport = rtsp_transport
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.reconnect = reconnect or ReconnectSettings()
        self._sleep = sleep
        self._clock = clock
        self._container: Any = None
        self._nominal_fps: float | None = None
        self.reconnects = 0
        """How many times the stream was reopened after a failure (for health reporting)."""

    @property
    def nominal_fps(self) -> float | None:
        return self._nominal_fps

    def container_options(self) -> dict[str, str]:
        """FFmpeg options for the URL's protocol."""
        options: dict[str, str] = {}
        if self.url.lower().startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = str(self.rtsp_transport)
        return options

    def _open_container(self) -> Any:
        """Open the URL; the interrupt timeout covers connecting and every later read."""
        import av

        return av.open(
            self.url,
            mode="r",
            options=self.container_options(),
            timeout=(self.open_timeout_s, self.read_timeout_s),
        )

    def _connect(self) -> Any:
        container = self._open_container()
        if not container.streams.video:
            container.close()
            raise SourceError(f"{redact_url(self.url)} carries no video")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if rate:
            self._nominal_fps = float(rate)
        return container

    def _drop_container(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # closing a dead connection may fail in many ways; none matter
                log.debug("closing %s failed", self.source_id, exc_info=True)
            self._container = None

    def __iter__(self) -> Iterator[Frame]:
        import av

        if self._closed:
            raise SourceError(f"stream source {self.source_id!r} is closed")
        started = self._clock()
        index = -1
        failures = 0
        last_wh: tuple[int, int] | None = None
        while not self._closed:
            if failures:
                limit = self.reconnect.max_attempts
                if limit is not None and failures > limit:
                    raise SourceError(
                        f"stream {redact_url(self.url)} lost: {limit} reconnect attempts failed"
                    )
                delay_s = self.reconnect.delay_s(failures)
                log.warning(
                    "stream %s: reconnect attempt %d in %.1f s", self.source_id, failures, delay_s
                )
                self._sleep(delay_s)
                if self._closed:
                    return
                self.reconnects += 1
            try:
                self._container = self._connect()
                stream = self._container.streams.video[0]
                for video_frame in self._container.decode(stream):
                    index += 1
                    pts_s = self._clock() - started
                    if not self._cap.keep(pts_s):
                        continue
                    image = frame_to_rgb(video_frame)
                    wh = (int(image.shape[1]), int(image.shape[0]))
                    if last_wh is not None and wh != last_wh:
                        log.info(
                            "stream %s changed resolution %dx%d -> %dx%d",
                            self.source_id,
                            *last_wh,
                            *wh,
                        )
                    last_wh = wh
                    failures = 0
                    yield Frame(
                        image=image,
                        source_id=self.source_id,
                        index=index,
                        pts_s=pts_s,
                        captured_at=datetime.now(UTC),
                    )
                    if self._closed:
                        return
                # A live stream that ends is a lost connection, not the end of the footage.
                log.warning("stream %s ended; reconnecting", self.source_id)
            except (av.FFmpegError, OSError, EOFError, ValueError, SourceError) as exc:
                if self._closed:
                    return
                # FFmpeg errors quote the URL, which may carry a password.
                reason = str(exc).replace(self.url, redact_url(self.url))
                log.warning("stream %s failed: %s", self.source_id, reason)
            finally:
                self._drop_container()
            failures += 1

    def close(self) -> None:
        super().close()
        self._drop_container()
