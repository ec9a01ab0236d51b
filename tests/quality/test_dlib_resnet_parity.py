"""ONNX Runtime vs dlib on real LFW faces: the evidence that lets both share one contract.

Faces are found, landmarked and cut exactly as dlib's own pipeline does (HOG detector, 5-point
shape predictor, ``dlib.get_face_chip`` at 150 px with padding 0.25), from pairs of LFW View 1
(``pairsDevTrain.txt``), so the comparison also covers the same/different decisions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from watchkeeper.models.dlib_onnx import OnnxResnetEmbedder
from watchkeeper.models.dlib_resnet import DlibResnetEmbedder
from watchkeeper.models.weights import face_models_file

pytestmark = [pytest.mark.models, pytest.mark.slow, pytest.mark.data]

PAIRS_EACH = 8
# dlib's trained operating point: raw descriptors closer than 0.6 are the same person.
DISTANCE_THRESHOLD = 0.6
MAX_COMPONENT_DIFF = 1e-5

Pair = tuple[str, str, bool]


def _dev_pairs(lfw: Path) -> list[Pair]:
    lines = (lfw / "pairsDevTrain.txt").read_text().splitlines()
    count = int(lines[0])
    same, different = lines[1 : 1 + count], lines[1 + count : 1 + 2 * count]
    step = count // PAIRS_EACH
    pairs: list[Pair] = []
    for line in same[::step][:PAIRS_EACH]:
        name, a, b = line.split("\t")
        pairs.append((f"{name}/{name}_{int(a):04d}.jpg", f"{name}/{name}_{int(b):04d}.jpg", True))
    for line in different[::step][:PAIRS_EACH]:
        name_a, a, name_b, b = line.split("\t")
        pairs.append(
            (f"{name_a}/{name_a}_{int(a):04d}.jpg", f"{name_b}/{name_b}_{int(b):04d}.jpg", False)
        )
    return pairs


@pytest.fixture(scope="module")
def lfw_chips(data_dir: Path) -> tuple[list[Pair], dict[str, int], np.ndarray]:
    """Pairs whose two images both yield a face, the row of each image, and its chip."""
    dlib = pytest.importorskip("dlib")
    from PIL import Image

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(face_models_file("shape_predictor_5_face_landmarks.dat")))
    lfw = data_dir / "lfw"
    rows: dict[str, int] = {}
    chips: list[np.ndarray] = []
    kept: list[Pair] = []
    for pair in _dev_pairs(lfw):
        for rel in pair[:2]:
            if rel in rows:
                continue
            image = np.asarray(Image.open(lfw / "images" / rel).convert("RGB"))
            found = detector(image, 1)
            if not found:
                continue
            # LFW centres the named person: take the detection nearest the centre.
            cx, cy = image.shape[1] / 2, image.shape[0] / 2
            best = min(found, key=lambda r: (r.center().x - cx) ** 2 + (r.center().y - cy) ** 2)
            shape = predictor(image, best)
            rows[rel] = len(chips)
            chips.append(dlib.get_face_chip(image, shape, size=150, padding=0.25))
        if pair[0] in rows and pair[1] in rows:
            kept.append(pair)
    return kept, rows, np.stack(chips)


@pytest.fixture(scope="module")
def both_descriptors(
    lfw_chips: tuple[list[Pair], dict[str, int], np.ndarray],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[np.ndarray, np.ndarray]:
    chips = lfw_chips[2]
    onnx = OnnxResnetEmbedder(tmp_path_factory.mktemp("onnx-cache"))
    return DlibResnetEmbedder().descriptors(chips), onnx.descriptors(chips)


def test_enough_real_faces(lfw_chips: tuple[list[Pair], dict[str, int], np.ndarray]) -> None:
    pairs, _, chips = lfw_chips
    assert chips.shape[0] >= 20
    assert sum(p[2] for p in pairs) >= PAIRS_EACH - 2
    assert sum(not p[2] for p in pairs) >= PAIRS_EACH - 2


def test_raw_descriptors_match_dlib(both_descriptors: tuple[np.ndarray, np.ndarray]) -> None:
    by_dlib, by_onnx = both_descriptors
    assert by_onnx.shape == by_dlib.shape
    assert np.abs(by_onnx - by_dlib).max() < MAX_COMPONENT_DIFF


def test_normalised_embeddings_match_dlib(
    lfw_chips: tuple[list[Pair], dict[str, int], np.ndarray],
    tmp_path_factory: pytest.TempPathFactory,
    both_descriptors: tuple[np.ndarray, np.ndarray],
) -> None:
    by_dlib, _ = both_descriptors
    chips = lfw_chips[2]
    embedded = OnnxResnetEmbedder(tmp_path_factory.mktemp("onnx-cache-2")).embed(chips)
    reference = by_dlib / np.linalg.norm(by_dlib, axis=1, keepdims=True)
    assert np.abs(embedded - reference).max() < MAX_COMPONENT_DIFF


def test_no_verification_decision_changes(
    lfw_chips: tuple[list[Pair], dict[str, int], np.ndarray],
    both_descriptors: tuple[np.ndarray, np.ndarray],
) -> None:
    pairs, rows, _ = lfw_chips
    by_dlib, by_onnx = both_descriptors
    for a, b, _same in pairs:
        d_dlib = float(np.linalg.norm(by_dlib[rows[a]] - by_dlib[rows[b]]))
        d_onnx = float(np.linalg.norm(by_onnx[rows[a]] - by_onnx[rows[b]]))
        assert (d_dlib < DISTANCE_THRESHOLD) == (d_onnx < DISTANCE_THRESHOLD), (a, b)
        assert abs(d_dlib - d_onnx) < 1e-4
