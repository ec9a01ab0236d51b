"""The benchmark's subject policy: the face nearest the centre, and when to ask the CNN."""

from __future__ import annotations

import numpy as np

from watchkeeper.bench.embedding_run import (
    RESCUE_OFFSET_FRACTION,
    SubjectEmbedding,
    central_row,
)


def _subject(offset_px: float, embedded: bool = True) -> SubjectEmbedding:
    vector = np.ones(128, np.float32) if embedded else None
    return SubjectEmbedding("a.jpg", vector, "hog", (), 1, 10.0, offset_px, (250, 250))


def test_central_row_is_the_box_nearest_the_image_centre() -> None:
    boxes = np.array([[0, 60, 76, 160], [90, 70, 200, 180]], np.float32)
    assert central_row(boxes, (250, 250)) == 1


def test_only_a_subject_far_from_the_centre_is_off_centre() -> None:
    limit = RESCUE_OFFSET_FRACTION * 250
    assert _subject(limit + 1).off_centre(RESCUE_OFFSET_FRACTION)
    assert not _subject(limit - 1).off_centre(RESCUE_OFFSET_FRACTION)
    # No embedding (handled by the no-face fallback) or no known size: never "off centre".
    assert not _subject(limit + 1, embedded=False).off_centre(RESCUE_OFFSET_FRACTION)
    unsized = SubjectEmbedding("a.jpg", np.ones(128, np.float32), "hog", (), 1, 1.0, 99.0)
    assert not unsized.off_centre(RESCUE_OFFSET_FRACTION)
