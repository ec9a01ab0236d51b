"""The ``VideoSource`` protocol and the pieces every source shares.

A source is a context manager and an iterable of :class:`~watchkeeper.core.Frame`::

    with VideoFileSource("clip.mp4", fps_cap=5) as source:
        for frame in source:
            ...

``Frame.index`` counts every frame the source decoded, including the ones a frame-rate cap
skipped, so gaps in the indices tell a tracker how much time passed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from watchkeeper.core import Frame
from watchkeeper.core.errors import InvalidInputError

log = logging.getLogger(__name__)


@runtime_checkable
class VideoSource(Protocol):
    """Frames from a camera, stream, file or folder, in order."""

    @property
    def source_id(self) -> str:
        """Stable name stamped on every frame."""
        ...

    @property
    def nominal_fps(self) -> float | None:
        """Frames per second the source claims to deliver before any cap, if known."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None:
        """Release the file, socket or device; safe to call twice."""
        ...


class FrameRateCap:
    """Keeps at most ``fps`` frames per second of presentation time, skipping the rest.

    Frames are kept on a fixed grid of ``1 / fps`` seconds, so a 30 fps source capped at 10
    keeps every third frame without drifting; after a gap the grid restarts at the next frame.

    >>> cap = FrameRateCap(10)
    >>> [cap.keep(i / 30) for i in range(6)]
    [True, False, False, True, False, False]
    """

    # Presentation times are rounded fractions of a time base: allow a millisecond of slack so
    # 3/30 s counts as "on" a 0.1 s grid.
    _SLACK_S = 1e-3

    def __init__(self, fps: float | None) -> None:
        if fps is not None and fps <= 0:
            raise InvalidInputError("an fps cap must be positive")
        self.fps = fps
        self._next_due_s: float | None = None

    def keep(self, pts_s: float) -> bool:
        """Whether the frame shown at ``pts_s`` should be delivered."""
        if self.fps is None:
            return True
        period = 1.0 / self.fps
        due = self._next_due_s
        if due is not None and pts_s < due - self._SLACK_S:
            # A timestamp far in the past means the clock restarted (reconnect, loop).
            if pts_s < due - 2 * period:
                self._next_due_s = pts_s + period
                return True
            return False
        if due is None or pts_s > due + period:
            self._next_due_s = pts_s + period
        else:
            self._next_due_s = due + period
        return True

    def reset(self) -> None:
        """Forget the grid (for example after a stream reconnects)."""
        self._next_due_s = None


class SourceBase:
    """Context-manager plumbing shared by the concrete sources."""

    def __init__(self, source_id: str, fps_cap: float | None) -> None:
        if not source_id:
            raise InvalidInputError("a source needs a non-empty source_id")
        self._source_id = source_id
        self._cap = FrameRateCap(fps_cap)
        self._closed = False

    @property
    def source_id(self) -> str:
        return self._source_id

    @property
    def fps_cap(self) -> float | None:
        return self._cap.fps

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True

    def request_stop(self) -> None:
        """Ask the thread iterating this source to stop at its next frame or retry.

        Safe from any thread: unlike :meth:`close` it releases nothing another thread may be
        reading from; the iterating thread closes the source as it leaves.
        """
        self._closed = True
