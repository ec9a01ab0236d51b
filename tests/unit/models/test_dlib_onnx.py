"""The ONNX Runtime embedder: lazy start, graph cache per weights digest, batching, input checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from watchkeeper.core.errors import InvalidInputError, ModelFileError
from watchkeeper.models import dlib_onnx
from watchkeeper.models.base import FaceEmbedder
from watchkeeper.models.dlib_onnx import OnnxResnetEmbedder, cached_model_path
from watchkeeper.models.dlib_resnet import DlibResnetEmbedder
from watchkeeper.models.dlib_weights import MODEL_ID, PREPROCESSING, WEIGHTS_FILE
from watchkeeper.models.weights import face_models_file, file_sha256

pytestmark = pytest.mark.models


def make_chips(n: int, seed: int = 0) -> np.ndarray:
    """Smooth random chips: any uint8 image is valid input; real faces live in tests/quality."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(n, 15, 15, 3), dtype=np.uint8)
    return np.ascontiguousarray(coarse.repeat(10, axis=1).repeat(10, axis=2))


class BuildCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = dlib_onnx.build_onnx_model

        def counting(weights: object) -> object:
            self.calls += 1
            return real(weights)  # type: ignore[arg-type]

        monkeypatch.setattr(dlib_onnx, "build_onnx_model", counting)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def embedder(shared_cache: Path) -> Iterator[OnnxResnetEmbedder]:
    e = OnnxResnetEmbedder(shared_cache)
    e.startup()
    yield e
    e.close()


def test_constructor_is_lazy(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    e = OnnxResnetEmbedder(cache)
    assert isinstance(e, FaceEmbedder)
    assert not cache.exists()
    assert e.model_path is None


def test_contract_and_manifest() -> None:
    e = OnnxResnetEmbedder(Path("/nonexistent-cache"))
    digest = file_sha256(face_models_file(WEIGHTS_FILE))
    assert e.contract.model_id == MODEL_ID
    assert e.contract.preprocessing == PREPROCESSING
    assert e.contract.weights_sha256 == digest
    assert e.contract.dim == 128
    assert e.manifest.weights_sha256 == digest
    assert e.manifest.input_size == (150, 150)
    assert e.manifest.colour_order == "RGB"
    # One contract for both runtimes: justified by tests/quality/test_dlib_resnet_parity.py.
    assert e.contract.contract_id == DlibResnetEmbedder().contract.contract_id


def test_embeddings_are_unit_rows(embedder: OnnxResnetEmbedder) -> None:
    chips = make_chips(3)
    out = embedder.embed(chips)
    assert out.shape == (3, 128)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    raw = embedder.descriptors(chips)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)  # raw dlib descriptors
    np.testing.assert_allclose(out, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-6)
    assert not np.allclose(out[0], out[1])


def test_empty_batch(embedder: OnnxResnetEmbedder) -> None:
    assert embedder.embed(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)


def test_batch_one_equals_batch_many(shared_cache: Path, embedder: OnnxResnetEmbedder) -> None:
    chips = make_chips(7, seed=1)
    together = embedder.embed(chips)  # max_batch 32: one run
    one_by_one = OnnxResnetEmbedder(shared_cache, max_batch=1).embed(chips)
    split = np.concatenate([embedder.embed(chips[:3]), embedder.embed(chips[3:])])
    assert np.abs(together - one_by_one).max() < 1e-6
    assert np.abs(together - split).max() < 1e-6


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 150, 150, 3), np.float32),
        np.zeros((150, 150, 3), np.uint8),
        np.zeros((1, 112, 112, 3), np.uint8),
        np.zeros((1, 150, 150, 4), np.uint8),
        [[0]],
    ],
)
def test_bad_chips_are_refused(bad: object) -> None:
    e = OnnxResnetEmbedder(Path("/nonexistent-cache"))
    with pytest.raises(InvalidInputError, match="chips"):
        e.embed(bad)  # type: ignore[arg-type]


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="intra_op_num_threads"):
        OnnxResnetEmbedder(tmp_path, intra_op_num_threads=0)
    with pytest.raises(InvalidInputError, match="max_batch"):
        OnnxResnetEmbedder(tmp_path, max_batch=0)


def test_graph_is_built_once_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = BuildCounter(monkeypatch)
    chips = make_chips(2, seed=2)
    first = OnnxResnetEmbedder(tmp_path)
    a = first.embed(chips)  # first use starts it
    assert counter.calls == 1
    assert first.model_path is not None and first.model_path.is_file()
    built_at = first.model_path.stat().st_mtime_ns

    second = OnnxResnetEmbedder(tmp_path)
    b = second.embed(chips)
    assert counter.calls == 1
    assert second.model_path == first.model_path
    assert first.model_path.stat().st_mtime_ns == built_at
    np.testing.assert_array_equal(a, b)
    # Written atomically: nothing but the finished model is left in the folder.
    assert [p.name for p in tmp_path.iterdir()] == [first.model_path.name]


def test_close_then_use_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = BuildCounter(monkeypatch)
    e = OnnxResnetEmbedder(tmp_path)
    chips = make_chips(1, seed=3)
    a = e.embed(chips)
    e.close()
    np.testing.assert_array_equal(e.embed(chips), a)
    assert counter.calls == 1


def test_changed_weights_rebuild_the_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = BuildCounter(monkeypatch)
    cache = tmp_path / "cache"
    weights = tmp_path / "weights.dat"
    original = face_models_file(WEIGHTS_FILE).read_bytes()
    weights.write_bytes(original)
    chips = make_chips(2, seed=4)

    before = OnnxResnetEmbedder(cache, weights_path=weights)
    a = before.embed(chips)
    old_contract = before.contract.contract_id
    assert counter.calls == 1

    # Scale the last fc weight: still a valid file, but other weights and another digest.
    data = bytearray(original)
    tail = data.rindex(b"\x01\x01\x02\x00\x01\x01\x80\x01\x01\x01\x01")
    value = np.frombuffer(bytes(data[tail - 4 : tail]), "<f4")[0]
    data[tail - 4 : tail] = np.array([value * 3 + 0.5], "<f4").tobytes()
    weights.write_bytes(bytes(data))

    after = OnnxResnetEmbedder(cache, weights_path=weights)
    b = after.embed(chips)
    assert counter.calls == 2
    assert after.model_path != before.model_path
    assert after.model_path == cached_model_path(cache, after.contract.weights_sha256)
    assert after.contract.contract_id != old_contract
    assert not np.allclose(a, b, atol=1e-6)


def test_damaged_cache_file_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = BuildCounter(monkeypatch)
    chips = make_chips(1, seed=5)
    good = OnnxResnetEmbedder(tmp_path)
    a = good.embed(chips)
    assert good.model_path is not None
    good.model_path.write_bytes(b"not an onnx model")
    again = OnnxResnetEmbedder(tmp_path)
    np.testing.assert_array_equal(again.embed(chips), a)
    assert counter.calls == 2


def test_pinned_digest_refuses_other_weights(tmp_path: Path) -> None:
    weights = tmp_path / "weights.dat"
    weights.write_bytes(face_models_file(WEIGHTS_FILE).read_bytes())
    real = file_sha256(weights)
    OnnxResnetEmbedder(tmp_path / "c", weights_path=weights, expected_sha256=real).startup()
    e = OnnxResnetEmbedder(tmp_path / "c", weights_path=weights, expected_sha256="0" * 64)
    with pytest.raises(ModelFileError, match="not the pinned"):
        e.startup()


def test_truncated_weights_fail_on_startup(tmp_path: Path) -> None:
    weights = tmp_path / "weights.dat"
    weights.write_bytes(face_models_file(WEIGHTS_FILE).read_bytes()[:-100])
    e = OnnxResnetEmbedder(tmp_path / "c", weights_path=weights)
    with pytest.raises(ModelFileError, match="truncated"):
        e.embed(make_chips(1))
    assert not (tmp_path / "c").exists()


def test_unwritable_cache_still_embeds(tmp_path: Path, embedder: OnnxResnetEmbedder) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    e = OnnxResnetEmbedder(blocker / "cache")
    chips = make_chips(2, seed=6)
    np.testing.assert_array_equal(e.embed(chips), embedder.embed(chips))
    assert e.model_path is None
