"""Exact cosine search in memory: the default index, a rebuildable cache of the store."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from watchkeeper.core.errors import ContractMismatchError, InvalidInputError

# Up to this many probes, similarities are summed by numpy's own loop rather than BLAS: for
# one probe against thousands of templates OpenBLAS spends ~4 ms waking its threads after other
# work (measured on a 2-core machine) against ~0.5 ms for the plain loop; batches use BLAS.
_LOOP_MAX_QUERIES = 8


def _similarities(
    queries: npt.NDArray[np.float32], vectors: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    if len(queries) <= _LOOP_MAX_QUERIES:
        return np.asarray(np.einsum("qd,nd->qn", queries, vectors), dtype=np.float32)
    return np.asarray(queries @ vectors.T, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class SearchHits:
    """Per query row: the k nearest keys and their cosine similarities, best first."""

    keys: tuple[tuple[str, ...], ...]
    similarity: npt.NDArray[np.float32]


class ExactIndex:
    """Brute-force inner product over unit vectors. Fast enough for ~10^5 templates on a CPU.

    >>> idx = ExactIndex("c", 2)
    >>> idx.add(["a", "b"], np.array([[1, 0], [0, 1]], np.float32))
    >>> idx.search(np.array([[0.9, 0.1]], np.float32), k=1).keys
    (('a',),)
    """

    def __init__(self, contract_id: str, dim: int) -> None:
        self.contract_id = contract_id
        self.dim = dim
        self._keys: list[str] = []
        self._pos: dict[str, int] = {}
        self._vectors = np.zeros((0, dim), np.float32)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._pos

    def _check(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise InvalidInputError(f"vectors must be (n, {self.dim}), got {v.shape}")
        return v

    def require_contract(self, contract_id: str) -> None:
        if contract_id != self.contract_id:
            raise ContractMismatchError(
                f"index holds {self.contract_id!r} vectors; cannot use {contract_id!r}"
            )

    def add(self, keys: list[str], vectors: npt.NDArray[np.float32]) -> None:
        v = self._check(vectors)
        if len(keys) != len(v):
            raise InvalidInputError("one key per vector")
        fresh = [k for k in keys if k not in self._pos]
        if len(fresh) != len(keys) or len(set(keys)) != len(keys):
            raise InvalidInputError("duplicate key in index")
        start = len(self._keys)
        self._keys.extend(keys)
        for i, k in enumerate(keys):
            self._pos[k] = start + i
        self._vectors = np.concatenate([self._vectors, v])

    def remove(self, keys: list[str]) -> int:
        drop = {self._pos[k] for k in keys if k in self._pos}
        if not drop:
            return 0
        keep = [i for i in range(len(self._keys)) if i not in drop]
        self._keys = [self._keys[i] for i in keep]
        self._vectors = self._vectors[keep]
        self._pos = {k: i for i, k in enumerate(self._keys)}
        return len(drop)

    def search(self, queries: npt.NDArray[np.float32], k: int) -> SearchHits:
        q = self._check(queries)
        if len(self._keys) == 0 or len(q) == 0:
            return SearchHits(tuple(() for _ in q), np.zeros((len(q), 0), np.float32))
        sims = _similarities(q, self._vectors)
        k = min(k, len(self._keys))
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(sims, part, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(part, order, axis=1)
        return SearchHits(
            keys=tuple(tuple(self._keys[j] for j in row) for row in top),
            similarity=np.take_along_axis(sims, top, axis=1).astype(np.float32),
        )
