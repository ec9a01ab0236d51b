"""dlib's own face-recognition ResNet runtime, kept as the reference for the ONNX embedder.

It is slow here (~100 ms a chip: dlib-bin has no BLAS) but it is the model's authors' code, so the
parity test and ``watchkeeper bench embed`` compare ``OnnxResnetEmbedder`` against it. Both produce
vectors under the same contract (see ``dlib_resnet_contract`` for why that is allowed).

dlib is imported here and in the other ``dlib_*`` modules only.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from watchkeeper.core.errors import ModelFileError
from watchkeeper.models.base import ChipBatch, l2_normalise
from watchkeeper.models.dlib_weights import (
    EMBEDDING_DIM,
    ResnetWeightsFile,
    check_chips,
)


class DlibResnetEmbedder(ResnetWeightsFile):
    """dlib's ``face_recognition_model_v1`` over chips cut by ``dlib.get_face_chip``.

    >>> DlibResnetEmbedder().embed(chips).shape  # doctest: +SKIP
    (n, 128)
    """

    MANIFEST_KIND = "dlib_resnet"

    def __init__(self, *, weights_path: Path | None = None) -> None:
        self.weights_path = weights_path
        self._weights_sha256 = None
        self._model: Any = None
        self._lock = threading.Lock()

    def startup(self) -> None:
        """Load the network into dlib."""
        self._started()

    def _started(self) -> Any:
        with self._lock:
            if self._model is None:
                import dlib

                path = self._path()
                if not path.is_file():
                    raise ModelFileError(f"face-recognition weights {path} not found")
                try:
                    self._model = dlib.face_recognition_model_v1(str(path))
                except RuntimeError as exc:  # dlib's serialization_error
                    raise ModelFileError(f"dlib cannot load {path}: {exc}") from exc
            return self._model

    def close(self) -> None:
        """Free the network."""
        with self._lock:
            self._model = None

    def descriptors(self, chips: ChipBatch) -> npt.NDArray[np.float32]:
        """dlib's raw 128-d descriptors (not normalised), one row per chip."""
        batch = check_chips(chips)
        model = self._started()
        if batch.shape[0] == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        # The list form runs dlib's batched forward pass over already aligned 150x150 chips.
        found = model.compute_face_descriptor([np.ascontiguousarray(c) for c in batch])
        return np.asarray([np.asarray(d) for d in found], dtype=np.float32).reshape(
            -1, EMBEDDING_DIM
        )

    def embed(self, chips: ChipBatch) -> npt.NDArray[np.float32]:
        """(n, 128) float32 rows of unit length."""
        return l2_normalise(self.descriptors(chips))
