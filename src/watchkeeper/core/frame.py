"""One decoded image with where and when it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from watchkeeper.core.errors import InvalidInputError

Image = npt.NDArray[np.uint8]
"""An (H, W, 3) uint8 RGB array. Every stage takes RGB; converters to BGR live at the edges."""


@dataclass(frozen=True, slots=True)
class Frame:
    """An RGB image plus provenance: a still photo is a one-frame source.

    >>> f = Frame(np.zeros((4, 6, 3), np.uint8), source_id="photo.jpg")
    >>> f.resolution_wh
    (6, 4)
    """

    image: Image
    source_id: str = ""
    index: int = 0
    pts_s: float = 0.0
    captured_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
            raise InvalidInputError("a frame's image must be a uint8 numpy array")
        if img.ndim != 3 or img.shape[2] != 3:
            raise InvalidInputError(f"a frame's image must be (H, W, 3) RGB, got shape {img.shape}")
        if img.shape[0] == 0 or img.shape[1] == 0:
            raise InvalidInputError("a frame's image is empty")
        if self.captured_at.tzinfo is None:
            raise InvalidInputError("captured_at must be timezone-aware (UTC)")

    @property
    def resolution_wh(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])
