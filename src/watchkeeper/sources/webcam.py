"""Local cameras (USB, built-in, V4L2) through OpenCV's ``VideoCapture``."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np

from watchkeeper.core import Frame
from watchkeeper.core.errors import InvalidInputError, SourceError
from watchkeeper.sources.base import SourceBase

log = logging.getLogger(__name__)


class WebcamSource(SourceBase):
    """Frames from local camera number ``device_index``.

    Opening fails with ``SourceError`` when no such camera exists or it is busy. A camera that
    stops delivering (unplugged) ends iteration with ``SourceError`` after ``max_failed_reads``
    consecutive failed reads. ``pts_s`` is seconds since the camera opened.
    """

    def __init__(
        self,
        device_index: int = 0,
        *,
        source_id: str | None = None,
        fps_cap: float | None = None,
        max_failed_reads: int = 30,
    ) -> None:
        if device_index < 0:
            raise InvalidInputError("a webcam index must be 0 or more")
        if max_failed_reads < 1:
            raise InvalidInputError("max_failed_reads must be at least 1")
        super().__init__(source_id or f"webcam{device_index}", fps_cap)
        self.device_index = device_index
        self.max_failed_reads = max_failed_reads
        self._capture: Any = None
        self._nominal_fps: float | None = None

    @property
    def nominal_fps(self) -> float | None:
        return self._nominal_fps

    def open(self) -> None:
        """Open the device now (iteration opens it otherwise); ``SourceError`` if absent."""
        if self._capture is not None:
            return
        if self._closed:
            raise SourceError(f"webcam source {self.source_id!r} is closed")
        import cv2

        capture = cv2.VideoCapture(self.device_index)
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"webcam {self.device_index} could not be opened: no such camera, "
                "or it is in use by another program"
            )
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self._nominal_fps = fps if fps > 0 else None
        self._capture = capture

    def __enter__(self) -> WebcamSource:
        self.open()
        return self

    def __iter__(self) -> Iterator[Frame]:
        self.open()
        started = time.monotonic()
        index = -1
        failed = 0
        while not self._closed and self._capture is not None:
            ok, bgr = self._capture.read()
            if not ok or bgr is None:
                failed += 1
                if failed >= self.max_failed_reads:
                    raise SourceError(
                        f"webcam {self.device_index} stopped delivering frames "
                        f"({failed} failed reads)"
                    )
                continue
            failed = 0
            index += 1
            pts_s = time.monotonic() - started
            if not self._cap.keep(pts_s):
                continue
            if bgr.ndim == 2:
                bgr = np.repeat(bgr[:, :, None], 3, axis=2)
            yield Frame(
                image=np.ascontiguousarray(bgr[:, :, 2::-1]),
                source_id=self.source_id,
                index=index,
                pts_s=pts_s,
                captured_at=datetime.now(UTC),
            )

    def close(self) -> None:
        super().close()
        if self._capture is not None:
            self._capture.release()
            self._capture = None
