"""The ``Tracker`` protocol: stable ids for boxes across frames."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from watchkeeper.core import Faces

UNTRACKED = -1
"""``track_id`` of a row that belongs to no confirmed track (yet)."""


@runtime_checkable
class Tracker(Protocol):
    """Links detections over time.

    Call :meth:`update` on frames where the detector ran and :meth:`predict` on the frames in
    between; frame indices must not go backwards.
    """

    def update(self, faces: Faces, frame_index: int) -> Faces:
        """The same rows as ``faces`` with ``track_id`` set (``UNTRACKED`` where none)."""
        ...

    def predict(self, frame_index: int) -> Faces:
        """Where the live tracks are expected on a frame the detector skipped."""
        ...

    def reset(self) -> None:
        """Forget every track (a new video, or a camera that moved)."""
        ...
