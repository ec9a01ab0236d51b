"""Deterministic fake backends, so every layer above the models runs and is tested without weights.

The mock embedder is a fixed random projection of the downsampled chip: the same pixels always
give the same vector, and different pictures give different vectors.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from watchkeeper.core import EmbeddingContract, Faces, FacesMeta, Image
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.models.base import ChipBatch, ModelManifest, l2_normalise

MOCK_CONTRACT = EmbeddingContract("mock", "1", "none", 32, "mock-chip/v1")


class MockDetector:
    """Reports one face covering the central half of any image that is not uniform."""

    @property
    def manifest(self) -> ModelManifest:
        return ModelManifest("mock", None, "RGB", "none", "")

    def detect(self, image: Image) -> Faces:
        h, w = image.shape[:2]
        meta = FacesMeta(resolution_wh=(w, h))
        if int(image.max()) == int(image.min()):
            return Faces.empty(meta)
        box = np.array([[w / 4, h / 4, 3 * w / 4, 3 * h / 4]], np.float32)
        return Faces(xyxy=box, detector_score=np.ones(1, np.float32), meta=meta)


class MockAligner:
    """Places landmarks at fixed fractions of the box and crops the box as the chip."""

    chip_size_px = 32

    @property
    def manifest(self) -> ModelManifest:
        return ModelManifest("mock", (32, 32), "RGB", "none", "")

    @property
    def preprocessing_mark(self) -> str:
        return ""

    def landmarks(self, image: Image, faces: Faces) -> Faces:
        fx = np.array([0.7, 0.6, 0.3, 0.4, 0.5], np.float32)
        fy = np.array([0.4, 0.4, 0.4, 0.4, 0.7], np.float32)
        x0, y0 = faces.xyxy[:, 0:1], faces.xyxy[:, 1:2]
        w = faces.xyxy[:, 2:3] - x0
        h = faces.xyxy[:, 3:4] - y0
        pts = np.stack([x0 + w * fx, y0 + h * fy], axis=-1)
        return faces.with_columns(landmarks=pts)

    def chips(self, image: Image, faces: Faces) -> ChipBatch:
        out = np.zeros((len(faces), 32, 32, 3), np.uint8)
        for i, (x0, y0, x1, y1) in enumerate(faces.xyxy.astype(int)):
            crop = image[max(y0, 0) : max(y1, y0 + 1), max(x0, 0) : max(x1, x0 + 1)]
            ys = np.linspace(0, crop.shape[0] - 1, 32).astype(int)
            xs = np.linspace(0, crop.shape[1] - 1, 32).astype(int)
            out[i] = crop[ys][:, xs]
        return out

    def shifted_chips(
        self, image: Image, faces: Faces, shifts_px: tuple[tuple[int, int], ...]
    ) -> npt.NDArray[np.uint8]:
        base = self.chips(image, faces)
        return np.stack([np.roll(base, (dy, dx), axis=(1, 2)) for dx, dy in shifts_px]).reshape(
            len(shifts_px), *base.shape
        )


class MockEmbedder:
    """A fixed random projection of the chip to 32 dimensions."""

    def __init__(self) -> None:
        rng = np.random.default_rng(20261126)
        self._projection = rng.standard_normal((32 * 32 * 3, 32)).astype(np.float32)

    @property
    def contract(self) -> EmbeddingContract:
        return MOCK_CONTRACT

    @property
    def manifest(self) -> ModelManifest:
        return ModelManifest("mock", (32, 32), "RGB", "none", "")

    def embed(self, chips: ChipBatch) -> npt.NDArray[np.float32]:
        if chips.ndim != 4 or chips.shape[1:] != (32, 32, 3):
            raise InvalidInputError(f"mock embedder takes (n, 32, 32, 3) chips, got {chips.shape}")
        flat = np.asarray(chips.reshape(len(chips), -1), dtype=np.float32) / np.float32(255.0)
        flat -= flat.mean(axis=1, keepdims=True)
        return l2_normalise(np.asarray(flat @ self._projection, dtype=np.float32))
