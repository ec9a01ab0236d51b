from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.core.errors import ContractMismatchError, InvalidInputError
from watchkeeper.index.exact import ExactIndex


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_search_matches_brute_force_ranking() -> None:
    rng = np.random.default_rng(0)
    vectors = _unit(rng, 500, 16)
    idx = ExactIndex("c", 16)
    idx.add([f"k{i}" for i in range(500)], vectors)
    queries = _unit(rng, 7, 16)
    hits = idx.search(queries, k=5)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :5]
    assert [list(row) for row in hits.keys] == [[f"k{j}" for j in row] for row in expected]
    assert np.all(np.diff(hits.similarity, axis=1) <= 0)


def test_remove_makes_vectors_unsearchable() -> None:
    idx = ExactIndex("c", 2)
    idx.add(["a", "b"], np.array([[1, 0], [0, 1]], np.float32))
    assert idx.remove(["a", "zzz"]) == 1
    hits = idx.search(np.array([[1, 0]], np.float32), k=5)
    assert hits.keys == (("b",),)
    assert "a" not in idx and len(idx) == 1


def test_empty_index_and_bad_shapes() -> None:
    idx = ExactIndex("c", 3)
    assert idx.search(np.zeros((2, 3), np.float32), k=3).keys == ((), ())
    with pytest.raises(InvalidInputError):
        idx.add(["a"], np.zeros((1, 4), np.float32))
    idx.add(["a"], np.ones((1, 3), np.float32))
    with pytest.raises(InvalidInputError, match="duplicate"):
        idx.add(["a"], np.ones((1, 3), np.float32))
    with pytest.raises(ContractMismatchError):
        idx.require_contract("other")
