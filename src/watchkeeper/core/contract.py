"""The embedding contract: which model and preprocessing made a vector.

Two embeddings are only comparable when they share a contract. Every stored template, gallery and
index records the ``contract_id`` of the vectors it holds, and mixing contracts is an error rather
than a silent accuracy loss.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from watchkeeper.core.errors import ContractMismatchError


class Metric(StrEnum):
    """How two embeddings are compared."""

    COSINE = "cosine"


@dataclass(frozen=True, slots=True)
class EmbeddingContract:
    """Identifies the exact model, weights and preprocessing that produced an embedding.

    >>> c = EmbeddingContract("dlib-resnet-v1", "1", "ab12", 128, "chip150-pad0.25/v1")
    >>> c.contract_id.startswith("dlib-resnet-v1@")
    True
    """

    model_id: str
    model_version: str
    weights_sha256: str
    dim: int
    preprocessing: str
    metric: Metric = Metric.COSINE

    @property
    def contract_id(self) -> str:
        """Short stable id: model name plus a digest of every field that changes the vectors."""
        key = "|".join(
            [
                self.model_id,
                self.model_version,
                self.weights_sha256,
                str(self.dim),
                self.preprocessing,
                self.metric.value,
            ]
        )
        return f"{self.model_id}@{hashlib.sha256(key.encode()).hexdigest()[:16]}"

    def require_same(self, other_contract_id: str) -> None:
        """Raise if vectors made under ``other_contract_id`` cannot be compared with ours."""
        if other_contract_id != self.contract_id:
            raise ContractMismatchError(
                f"embeddings from model contract {other_contract_id!r} cannot be compared with "
                f"{self.contract_id!r}; re-enrol the gallery with the current model, or set "
                "the recognition settings (embedder, aligner, augmentation) back to those the "
                "gallery was made with (since 2026-11-26 the default aligner is dlib_68point; "
                "galleries made before it need recognition.aligner=dlib_5point, CLI --aligner)"
            )
