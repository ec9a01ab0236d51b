"""Small builders for unit tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from watchkeeper.config.settings import (
    DetectionSettings,
    DetectorKind,
    EmbedderKind,
    QualitySettings,
    RecognitionSettings,
    Settings,
)
from watchkeeper.core import Faces, Frame


def make_faces(n: int = 2, with_embedding: bool = False, dim: int = 8) -> Faces:
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 100, (n, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + 50], axis=1)
    emb = None
    if with_embedding:
        emb = rng.standard_normal((n, dim)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return Faces(xyxy=boxes, detector_score=np.linspace(0.5, 1.0, n), embedding=emb)


def make_frame(w: int = 64, h: int = 48, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    return Frame(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), source_id=f"synthetic-{seed}")


def pattern_image(seed: int, size: int = 96) -> np.ndarray:
    """A distinct, non-uniform RGB picture per seed (the mock detector sees one 'face')."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (size, size, 3), dtype=np.uint8)


def save_png(array: np.ndarray, path: Path) -> Path:
    from PIL import Image

    Image.fromarray(array).save(path)
    return path


def encode(array: np.ndarray, fmt: str = "JPEG", **kwargs: object) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def mock_settings(home: Path) -> Settings:
    """Settings that run the whole engine on the deterministic mock backends."""
    return Settings(
        home=home,
        detection=DetectionSettings(kind=DetectorKind.MOCK),
        quality=QualitySettings(min_face_px=8, min_sharpness=0.0),
        recognition=RecognitionSettings(embedder=EmbedderKind.MOCK, mirror_augment=False),
        workers=1,
    )
