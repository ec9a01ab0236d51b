"""The backend protocols: every model sits behind one of these, chosen by config ``kind``.

Constructors only store settings; weights load on ``startup()`` (or lazily on first use), so
importing Watchkeeper never touches a model file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from watchkeeper.core import EmbeddingContract, Faces, Image, Objects

ChipBatch = npt.NDArray[np.uint8]
"""(n, S, S, 3) uint8 RGB aligned face chips."""


@dataclass(frozen=True, slots=True)
class ModelManifest:
    """What a backend expects and which weights it runs."""

    kind: str
    input_size: tuple[int, int] | None
    colour_order: str
    weights_file: str
    weights_sha256: str


@runtime_checkable
class FaceDetector(Protocol):
    """Finds face boxes in an RGB image."""

    @property
    def manifest(self) -> ModelManifest: ...

    def detect(self, image: Image) -> Faces:
        """Boxes (xyxy pixels, clipped to the image) and detector scores; no other columns."""
        ...


@runtime_checkable
class ObjectDetector(Protocol):
    """Finds people, vehicles, animals and other classes in an RGB image."""

    @property
    def manifest(self) -> ModelManifest: ...

    @property
    def labels(self) -> tuple[str, ...]:
        """Every class name the detector can emit, indexed by ``Objects.class_id``."""
        ...

    def detect(self, image: Image) -> Objects:
        """Boxes (xyxy pixels, clipped to the image), confidences and class ids; no track ids."""
        ...


@runtime_checkable
class Aligner(Protocol):
    """Places landmarks (5 or 68 per face) and cuts normalised chips."""

    @property
    def manifest(self) -> ModelManifest: ...

    @property
    def preprocessing_mark(self) -> str:
        """Added to the embedding contract's preprocessing when it changes the chips ("" if not)."""
        ...

    def landmarks(self, image: Image, faces: Faces) -> Faces:
        """``faces`` with the ``landmarks`` column filled, (n, k, 2) pixels."""
        ...

    def chips(self, image: Image, faces: Faces) -> ChipBatch:
        """Aligned chips for faces that carry landmarks."""
        ...

    def shifted_chips(
        self, image: Image, faces: Faces, shifts_px: tuple[tuple[int, int], ...]
    ) -> npt.NDArray[np.uint8]:
        """(len(shifts), n, S, S, 3): chips at the same scale, moved by (dx, dy) chip pixels."""
        ...


@runtime_checkable
class FaceEmbedder(Protocol):
    """Turns aligned chips into L2-normalised embeddings under one contract."""

    @property
    def contract(self) -> EmbeddingContract: ...

    @property
    def manifest(self) -> ModelManifest: ...

    def embed(self, chips: ChipBatch) -> npt.NDArray[np.float32]:
        """(n, dim) float32, each row of unit length."""
        ...


def l2_normalise(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length (zero rows stay zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.asarray(v / np.maximum(norms, 1e-12), dtype=np.float32)
