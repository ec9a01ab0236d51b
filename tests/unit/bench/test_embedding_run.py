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


def test_the_cnn_rescuer_reuses_the_hog_pipeline_but_detects_with_the_cnn() -> None:
    from watchkeeper.bench.embedding_run import _rescuer
    from watchkeeper.config.settings import DetectorKind, Settings
    from watchkeeper.pipeline.factory import build_analyzer

    hog = build_analyzer(Settings(), embed_rejected=True)
    cnn = _rescuer(hog)
    # Same aligner, embedder and contract: a rescued subject's vector is comparable.
    assert cnn.aligner is hog.aligner and cnn.embedder is hog.embedder
    assert cnn.contract == hog.contract
    assert cnn.detection.kind is DetectorKind.CNN and cnn.detection.upsample == 1
    assert cnn.first_pass_detector is None and cnn.fallback_detector is None
    assert hog.detection.kind is DetectorKind.HOG  # the HOG analyzer itself is untouched
