"""dlib's face-recognition ResNet on ONNX Runtime: the default embedder.

dlib-bin has no BLAS, so one embedding costs ~100 ms there; the same network on ONNX Runtime costs
a few ms on one core with the same numbers (within ~1e-6). The graph is written from the weights
that ``dlib_weights`` has read and checked, keeping dlib's exact semantics:

- input ``(pixel - mean[c]) / 256`` per RGB channel (256, not 255; no std);
- strided convolutions and pools have no padding, 3x3 stride-1 convolutions pad by 1;
- ``affine`` is ``x * gamma + beta`` per channel;
- ``add_prev`` of tensors with different sizes or channels makes the larger shape on every axis and
  zero-fills the smaller operand at the END (bottom rows, right columns, high channels);
- average over everything, then ``fc`` 256 -> 128 without bias: the raw dlib descriptor.

The .onnx file is built once per weights digest into a cache folder and reused.

>>> embedder = OnnxResnetEmbedder(cache_dir=Path("/tmp/wk-cache"))  # doctest: +SKIP
>>> embedder.embed(chips).shape  # (n, 150, 150, 3) uint8 RGB chips  # doctest: +SKIP
(n, 128)
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from watchkeeper.core.errors import InvalidInputError, ModelFileError
from watchkeeper.models.base import ChipBatch, l2_normalise
from watchkeeper.models.dlib_weights import (
    EMBEDDING_DIM,
    INPUT_SIZE_PX,
    RESNET_LAYERS,
    DlibResnetWeights,
    LayerKind,
    ResnetWeightsFile,
    check_chips,
    parse_dlib_resnet,
    pooled_size,
)

log = logging.getLogger(__name__)

# Bump when the graph written for the same weights changes, so old cached files are not reused.
GRAPH_VERSION = 2
_OPSET = 17
# IR 8 keeps the file loadable by ONNX Runtime releases older than the onnx package in use.
_IR_VERSION = 8
_INPUT = "chips"
_OUTPUT = "descriptor"
_META_WEIGHTS = "watchkeeper.weights_sha256"
_META_GRAPH = "watchkeeper.graph_version"


def cached_model_path(cache_dir: Path, weights_sha256: str) -> Path:
    """Where the graph for these weights lives in the cache."""
    return cache_dir / f"dlib-resnet-v1-{weights_sha256}-g{GRAPH_VERSION}.onnx"


def build_onnx_model(weights: DlibResnetWeights) -> Any:
    """The network as an ``onnx.ModelProto``: uint8 (n, 150, 150, 3) RGB in, (n, 128) out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    initialisers: list[Any] = []
    counter = 0

    def fresh(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return f"{prefix}_{counter}"

    def constant(prefix: str, value: npt.NDArray[Any]) -> str:
        name = fresh(prefix)
        initialisers.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        out = fresh(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    # Preprocessing in the graph, so callers hand over chips exactly as dlib.get_face_chip cuts
    # them. Dividing by 256 is exact in float32, so multiplying by 1/256 matches dlib bit for bit.
    # The transpose to NCHW comes first, on the uint8 chips, so the per-channel subtraction runs
    # over contiguous planes; the arithmetic is the same. ONNX Runtime's profile put the NHWC
    # broadcast at ~0.5 ms of ~5 ms per chip, but warmed-up sessions on real LFW chips ran the
    # two graphs equally fast (4.5 ms per chip, within noise).
    mean = np.asarray(weights.input_mean_rgb, np.float32).reshape(1, 3, 1, 1)
    x = node("Transpose", [_INPUT], perm=[0, 3, 1, 2])
    x = node("Cast", [x], to=TensorProto.FLOAT)
    x = node("Sub", [x, constant("mean_rgb", mean)])
    x = node("Mul", [x, constant("inv256", np.asarray(1.0 / 256.0, np.float32))])

    # Static (channels, rows, cols) shapes travel with every tensor so add_prev knows what to pad.
    shape = (3, weights.input_size_px, weights.input_size_px)
    tagged: dict[int, tuple[str, tuple[int, int, int]]] = {}
    convs = iter(weights.convs)
    affines = iter(weights.affines)

    def pad_to(name: str, have: tuple[int, int, int], want: tuple[int, int, int]) -> str:
        if have == want:
            return name
        # ONNX pads: begins for (n, c, h, w), then ends; dlib fills only at the end.
        extra = [w - h for h, w in zip(have, want, strict=True)]
        pads = np.asarray([0, 0, 0, 0, 0, *extra], np.int64)
        return node("Pad", [name, constant("pads", pads)], mode="constant")

    for spec in RESNET_LAYERS:
        channels, rows, cols = shape
        if spec.kind is LayerKind.TAG:
            tagged[spec.tag] = (x, shape)
        elif spec.kind is LayerKind.SKIP:
            x, shape = tagged[spec.tag]
        elif spec.kind is LayerKind.CON:
            conv = next(convs)
            p = conv.padding
            x = node(
                "Conv",
                [x, constant("filters", conv.filters), constant("bias", conv.bias)],
                kernel_shape=[spec.size, spec.size],
                strides=[conv.stride, conv.stride],
                pads=[p, p, p, p],
            )
            out = (
                pooled_size(rows, spec.size, conv.stride, p),
                pooled_size(cols, spec.size, conv.stride, p),
            )
            shape = (spec.num_outputs, *out)
        elif spec.kind is LayerKind.AFFINE:
            affine = next(affines)
            x = node("Mul", [x, constant("gamma", affine.gamma.reshape(1, -1, 1, 1))])
            x = node("Add", [x, constant("beta", affine.beta.reshape(1, -1, 1, 1))])
        elif spec.kind is LayerKind.RELU:
            x = node("Relu", [x])
        elif spec.kind is LayerKind.ADD_PREV:
            other, other_shape = tagged[spec.tag]
            want = (
                max(channels, other_shape[0]),
                max(rows, other_shape[1]),
                max(cols, other_shape[2]),
            )
            x = node("Add", [pad_to(x, shape, want), pad_to(other, other_shape, want)])
            shape = want
        elif spec.kind in (LayerKind.MAX_POOL, LayerKind.AVG_POOL):
            if spec.size == 0:
                x = node("GlobalAveragePool", [x])
                shape = (channels, 1, 1)
            else:
                op = "MaxPool" if spec.kind is LayerKind.MAX_POOL else "AveragePool"
                p = spec.padding
                x = node(
                    op,
                    [x],
                    kernel_shape=[spec.size, spec.size],
                    strides=[spec.stride, spec.stride],
                    pads=[p, p, p, p],
                )
                shape = (
                    channels,
                    pooled_size(rows, spec.size, spec.stride, p),
                    pooled_size(cols, spec.size, spec.stride, p),
                )
        elif spec.kind is LayerKind.FC:
            x = node("Flatten", [x], axis=1)
            x = node("MatMul", [x, constant("fc", weights.fc)])
            shape = (spec.num_outputs, 1, 1)
    nodes.append(helper.make_node("Identity", [x], [_OUTPUT], name="output"))

    graph = helper.make_graph(
        nodes,
        "dlib_face_recognition_resnet_model_v1",
        [
            helper.make_tensor_value_info(
                _INPUT, TensorProto.UINT8, ["n", INPUT_SIZE_PX, INPUT_SIZE_PX, 3]
            )
        ],
        [helper.make_tensor_value_info(_OUTPUT, TensorProto.FLOAT, ["n", EMBEDDING_DIM])],
        initialisers,
    )
    model = helper.make_model(
        graph,
        producer_name="watchkeeper",
        opset_imports=[helper.make_opsetid("", _OPSET)],
    )
    model.ir_version = _IR_VERSION
    helper.set_model_props(model, {_META_WEIGHTS: weights.sha256, _META_GRAPH: str(GRAPH_VERSION)})
    onnx.checker.check_model(model)
    return model


def _write_atomically(path: Path, payload: bytes) -> None:
    # Write beside the target and rename: readers never see half a file, and two processes
    # building at once both end with a complete one.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


class OnnxResnetEmbedder(ResnetWeightsFile):
    """dlib's ResNet embedder (128-d, contract ``dlib-resnet-v1``) run by ONNX Runtime.

    ``intra_op_num_threads`` is set explicitly because ONNX Runtime otherwise takes every core;
    on small machines one thread per worker beside the detector is the faster arrangement.
    ``expected_sha256`` pins the weights: any other file is refused. ``max_batch`` 8: on one
    thread here (random chips), 4.5 ms each in batches of 4-8 but 5.2 ms in batches of 32.
    """

    MANIFEST_KIND = "dlib_resnet_onnx"

    def __init__(
        self,
        cache_dir: Path,
        *,
        weights_path: Path | None = None,
        intra_op_num_threads: int = 1,
        max_batch: int = 8,
        expected_sha256: str | None = None,
    ) -> None:
        if intra_op_num_threads < 1:
            raise InvalidInputError("intra_op_num_threads must be at least 1")
        if max_batch < 1:
            raise InvalidInputError("max_batch must be at least 1")
        self.cache_dir = Path(cache_dir)
        self.weights_path = weights_path
        self.intra_op_num_threads = intra_op_num_threads
        self.max_batch = max_batch
        self.expected_sha256 = expected_sha256
        self._session: Any = None
        self._weights_sha256: str | None = None
        self._model_path: Path | None = None
        self._lock = threading.Lock()

    @property
    def model_path(self) -> Path | None:
        """The cached .onnx file in use, once started (None when the cache was not writable)."""
        return self._model_path

    def startup(self) -> None:
        """Read and check the weights, build or reuse the cached graph, open the session."""
        self._started()

    def _started(self) -> Any:
        with self._lock:
            if self._session is not None:
                return self._session
            path = self._path()
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ModelFileError(
                    f"cannot read the face-recognition weights {path}: {exc}"
                ) from exc
            weights = parse_dlib_resnet(data, str(path))
            if self.expected_sha256 is not None and weights.sha256 != self.expected_sha256:
                raise ModelFileError(
                    f"{path} has SHA-256 {weights.sha256}, not the pinned {self.expected_sha256}"
                )
            cached = cached_model_path(self.cache_dir, weights.sha256)
            in_use: Path | None = cached
            session = self._open_cached(cached, weights.sha256)
            if session is None:
                log.info("building the ONNX graph for %s into %s", path.name, cached)
                payload = build_onnx_model(weights).SerializeToString()
                try:
                    _write_atomically(cached, payload)
                except OSError as exc:
                    # An unwritable cache costs a rebuild per start, never the service.
                    log.warning("cannot cache the ONNX graph in %s (%s)", self.cache_dir, exc)
                    session = self._open(payload)
                    in_use = None
                else:
                    session = self._open(cached)
            self._session = session
            self._weights_sha256 = weights.sha256
            self._model_path = in_use
            return session

    def _open(self, model: Path | bytes) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.intra_op_num_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        source = model if isinstance(model, bytes) else str(model)
        return ort.InferenceSession(
            source, sess_options=options, providers=["CPUExecutionProvider"]
        )

    def _open_cached(self, model_path: Path, weights_sha256: str) -> Any:
        if not model_path.is_file():
            return None
        try:
            session = self._open(model_path)
        except Exception as exc:  # a damaged cache file is rebuilt, never fatal
            log.warning("rebuilding unreadable cached model %s: %s", model_path, exc)
            return None
        meta = session.get_modelmeta().custom_metadata_map
        if meta.get(_META_WEIGHTS) != weights_sha256 or meta.get(_META_GRAPH) != str(GRAPH_VERSION):
            log.warning("rebuilding cached model %s: it was made from other weights", model_path)
            return None
        return session

    def close(self) -> None:
        """Free the session; the next ``embed`` or ``startup`` opens it again."""
        with self._lock:
            self._session = None

    def descriptors(self, chips: ChipBatch) -> npt.NDArray[np.float32]:
        """dlib's raw 128-d descriptors (not normalised; norm ~1.4), one row per chip."""
        batch = check_chips(chips)
        session = self._started()
        if batch.shape[0] == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        parts = [
            session.run([_OUTPUT], {_INPUT: batch[i : i + self.max_batch]})[0]
            for i in range(0, batch.shape[0], self.max_batch)
        ]
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def embed(self, chips: ChipBatch) -> npt.NDArray[np.float32]:
        """(n, 128) float32 rows of unit length."""
        return l2_normalise(self.descriptors(chips))
