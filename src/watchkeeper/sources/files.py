"""Recorded footage: video files decoded with PyAV, and folders of still images."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from watchkeeper.core import Frame, Image
from watchkeeper.core.errors import InvalidInputError, SourceError
from watchkeeper.sources.base import SourceBase

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
)


def frame_to_rgb(video_frame: Any) -> Image:
    """A PyAV ``VideoFrame`` as an (H, W, 3) uint8 RGB array (a fresh, contiguous copy)."""
    return np.ascontiguousarray(video_frame.to_ndarray(format="rgb24"), dtype=np.uint8)


class VideoFileSource(SourceBase):
    """Frames of a video file, decoded to RGB.

    A file cut short (a recording interrupted mid-write) ends at the last frame that decodes,
    with a logged warning; a file with no decodable frame at all raises ``SourceError``.

    ``recorded_at`` is when the first frame was taken, if known; ``captured_at`` of each frame is
    that plus its presentation time (default: the moment the file is opened).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        source_id: str | None = None,
        fps_cap: float | None = None,
        recorded_at: datetime | None = None,
    ) -> None:
        self.path = Path(path)
        super().__init__(source_id or self.path.name, fps_cap)
        if recorded_at is not None and recorded_at.tzinfo is None:
            raise InvalidInputError("recorded_at must be timezone-aware")
        self._recorded_at = recorded_at
        self._container: Any = None
        self._nominal_fps: float | None = None

    @property
    def nominal_fps(self) -> float | None:
        self._open()
        return self._nominal_fps

    def _open(self) -> Any:
        if self._container is not None:
            return self._container
        if self._closed:
            raise SourceError(f"video source {self.source_id!r} is closed")
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        import av

        try:
            container = av.open(str(self.path), mode="r")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise SourceError(f"cannot open video file {self.path}: {exc}") from exc
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.path} has no video stream")
        stream = container.streams.video[0]
        # Let FFmpeg use its own threads for decoding; frames still come out in order.
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        self._nominal_fps = float(rate) if rate else None
        self._container = container
        return container

    def __iter__(self) -> Iterator[Frame]:
        import av

        container = self._open()
        stream = container.streams.video[0]
        start_at = self._recorded_at or datetime.now(UTC)
        fps = self._nominal_fps or 0.0
        index = -1
        delivered = 0
        decoder = container.decode(stream)
        first_pts_s: float | None = None
        cut_short = False
        while True:
            try:
                video_frame = next(decoder)
            except StopIteration:
                break
            except (av.FFmpegError, EOFError, ValueError) as exc:
                if index < 0:
                    raise SourceError(f"no decodable frame in {self.path}: {exc}") from exc
                log.warning(
                    "video %s ended early after frame %d (file truncated or damaged): %s",
                    self.path,
                    index,
                    exc,
                )
                cut_short = True
                break
            index += 1
            if video_frame.time is not None:
                pts_s = float(video_frame.time)
            else:
                pts_s = index / fps if fps else 0.0
            if first_pts_s is None:
                first_pts_s = pts_s
            # Files may start at a non-zero timestamp; frames count from the first one shown.
            pts_s -= first_pts_s
            if not self._cap.keep(pts_s):
                continue
            delivered += 1
            yield Frame(
                image=frame_to_rgb(video_frame),
                source_id=self.source_id,
                index=index,
                pts_s=pts_s,
                captured_at=start_at + timedelta(seconds=pts_s),
            )
        if index < 0:
            raise SourceError(f"no decodable frame in {self.path}")
        # FFmpeg often stops quietly at a cut: compare with the count the header promised.
        promised = int(stream.frames or 0)
        if promised and index + 1 < promised and not cut_short:
            log.warning(
                "video %s ended early: %d of %d frames decoded (file truncated or damaged)",
                self.path,
                index + 1,
                promised,
            )
        log.debug("video %s: %d frames decoded, %d delivered", self.path, index + 1, delivered)

    def close(self) -> None:
        super().close()
        if self._container is not None:
            self._container.close()
            self._container = None


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders embedded numbers by value: ``2.99.jpg`` before ``2.100.jpg``.

    >>> sorted(["f10.jpg", "f9.jpg", "f100.jpg"], key=natural_key)
    ['f9.jpg', 'f10.jpg', 'f100.jpg']
    """
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts if p)


def read_image_rgb(path: Path) -> Image:
    """An image file as RGB uint8; ``SourceError`` if it cannot be decoded."""
    import cv2

    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise SourceError(f"{path} is not a readable image")
    return np.ascontiguousarray(bgr[:, :, ::-1])


class ImageFolderSource(SourceBase):
    """Still images in one folder, in natural file-name order, as a video.

    ``fps`` is the rate the images were taken at, if known: it sets ``pts_s`` (index / fps) and
    is required for an ``fps_cap``. Unreadable files are skipped with a warning.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        source_id: str | None = None,
        fps: float | None = None,
        fps_cap: float | None = None,
        recorded_at: datetime | None = None,
    ) -> None:
        self.folder = Path(folder)
        super().__init__(source_id or self.folder.name or str(self.folder), fps_cap)
        if fps is not None and fps <= 0:
            raise InvalidInputError("fps must be positive")
        if fps_cap is not None and fps is None:
            raise InvalidInputError("an image folder needs its fps to apply an fps cap")
        if recorded_at is not None and recorded_at.tzinfo is None:
            raise InvalidInputError("recorded_at must be timezone-aware")
        self._fps = fps
        self._recorded_at = recorded_at

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    def files(self) -> list[Path]:
        """Image files the source will read, in order."""
        if not self.folder.is_dir():
            raise SourceError(f"image folder not found: {self.folder}")
        found = [
            p for p in self.folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        ]
        return sorted(found, key=lambda p: natural_key(p.name))

    def __iter__(self) -> Iterator[Frame]:
        if self._closed:
            raise SourceError(f"image folder source {self.source_id!r} is closed")
        files = self.files()
        if not files:
            raise SourceError(f"no image files in {self.folder}")
        start_at = self._recorded_at or datetime.now(UTC)
        delivered = 0
        for index, path in enumerate(files):
            pts_s = index / self._fps if self._fps else 0.0
            if not self._cap.keep(pts_s):
                continue
            try:
                image = read_image_rgb(path)
            except SourceError as exc:
                log.warning("skipping %s", exc)
                continue
            delivered += 1
            yield Frame(
                image=image,
                source_id=self.source_id,
                index=index,
                pts_s=pts_s,
                captured_at=start_at + timedelta(seconds=pts_s),
            )
        if delivered == 0 and self._cap.fps is None:
            raise SourceError(
                f"none of the {len(files)} files in {self.folder} is a readable image"
            )
