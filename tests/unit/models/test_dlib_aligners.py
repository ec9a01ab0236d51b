"""The 5- and 68-point aligners on a real LFW face, and the contract each one implies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from watchkeeper.config.settings import AlignerKind, Settings
from watchkeeper.core import Faces
from watchkeeper.pipeline.factory import build_analyzer
from watchkeeper.sources.images import load_image

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def face_image(data_dir: Path) -> np.ndarray:
    return load_image(data_dir / "lfw/images/Aaron_Peirsol/Aaron_Peirsol_0001.jpg").image


def _settings(tmp_path: Path, aligner: AlignerKind) -> Settings:
    s = Settings(home=tmp_path)
    return s.model_copy(
        update={"recognition": s.recognition.model_copy(update={"aligner": aligner})}
    )


def _located(face_image: np.ndarray, tmp_path: Path) -> Faces:
    analyzer = build_analyzer(_settings(tmp_path, AlignerKind.FIVE_POINT))
    faces = analyzer.locate(face_image)
    assert len(faces) == 1
    return faces


def test_68_points_agree_with_the_5_point_model_where_they_overlap(
    face_image: np.ndarray, tmp_path: Path
) -> None:
    boxes = _located(face_image, tmp_path)
    five = build_analyzer(_settings(tmp_path, AlignerKind.FIVE_POINT)).aligner.landmarks(
        face_image, boxes
    )
    sixty_eight = build_analyzer(
        _settings(tmp_path, AlignerKind.SIXTY_EIGHT_POINT)
    ).aligner.landmarks(face_image, boxes)
    assert sixty_eight.landmarks is not None and sixty_eight.landmarks.shape == (1, 68, 2)
    assert five.five_landmarks is not None and sixty_eight.five_landmarks is not None
    # Two different models: eye corners and nose agree to a few pixels on a ~100 px face.
    gap_px = np.linalg.norm(five.five_landmarks - sixty_eight.five_landmarks, axis=-1)
    assert float(gap_px.max()) < 6.0


def test_each_aligner_has_its_own_contract_and_both_embed_the_same_face_alike(
    face_image: np.ndarray, tmp_path: Path
) -> None:
    a5 = build_analyzer(_settings(tmp_path, AlignerKind.FIVE_POINT))
    a68 = build_analyzer(_settings(tmp_path, AlignerKind.SIXTY_EIGHT_POINT))
    assert "lm68" in a68.contract.preprocessing
    assert "lm68" not in a5.contract.preprocessing
    assert a5.contract.contract_id != a68.contract.contract_id
    f5, f68 = a5.analyze(face_image), a68.analyze(face_image)
    assert f5.embedding is not None and f68.embedding is not None
    assert f68.meta.contract_id == a68.contract.contract_id
    similarity = float(f5.embedding[0] @ f68.embedding[0])
    assert 0.9 < similarity < 0.99999  # the same face, but not the same chip


def test_the_default_settings_align_with_68_points() -> None:
    assert Settings().recognition.aligner is AlignerKind.SIXTY_EIGHT_POINT
