"""Reader for the dlib face-recognition ResNet file (``dlib_face_recognition_resnet_model_v1.dat``).

The file holds weights but not the wiring: which tag an ``add_prev`` adds back is a C++ template
argument in dlib's ``face_recognition.cpp``. So the network is written down here once, as
``RESNET_LAYERS``, and every record of the file (wrapper versions, layer types, sizes, strides,
paddings, tensor shapes, the end of the file) is checked against it before any weight is returned.
A truncated, altered or different file fails with ``ModelFileError`` naming the byte and the layer.

>>> from watchkeeper.models.weights import face_models_file
>>> weights = read_dlib_resnet(face_models_file(WEIGHTS_FILE))  # doctest: +SKIP
>>> len(weights.convs), weights.fc.shape  # doctest: +SKIP
(29, (256, 128))
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from watchkeeper.core import EmbeddingContract
from watchkeeper.core.errors import InvalidInputError, ModelFileError
from watchkeeper.models.base import ModelManifest
from watchkeeper.models.weights import face_models_file, file_sha256

FloatArray = npt.NDArray[np.float32]

INPUT_SIZE_PX = 150
EMBEDDING_DIM = 128


class LayerKind(StrEnum):
    """The dlib layer types this network uses."""

    CON = "con"
    AFFINE = "affine"
    RELU = "relu"
    MAX_POOL = "max_pool"
    AVG_POOL = "avg_pool"
    TAG = "tag"
    SKIP = "skip"
    ADD_PREV = "add_prev"
    FC = "fc"


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One layer of the network, in forward (input to output) order.

    ``size`` is the square kernel or pooling window (0 for a pool over everything); ``tag`` is the
    tag id a TAG defines or a SKIP / ADD_PREV refers to.
    """

    kind: LayerKind
    num_outputs: int = 0
    size: int = 0
    stride: int = 1
    tag: int = 0

    @property
    def padding(self) -> int:
        """dlib's default padding: half the window for stride 1, none for strided layers."""
        return self.size // 2 if self.stride == 1 else 0

    @property
    def is_wrapper_only(self) -> bool:
        """Tags and skips are stored as a version number only, with no details of their own."""
        return self.kind in (LayerKind.TAG, LayerKind.SKIP)

    def describe(self) -> str:
        if self.kind is LayerKind.CON:
            return f"con {self.num_outputs} {self.size}x{self.size}/{self.stride}"
        if self.kind in (LayerKind.MAX_POOL, LayerKind.AVG_POOL):
            window = f"{self.size}x{self.size}/{self.stride}" if self.size else "everything"
            return f"{self.kind.value} {window}"
        if self.kind in (LayerKind.TAG, LayerKind.SKIP, LayerKind.ADD_PREV):
            return f"{self.kind.value}{self.tag}"
        if self.kind is LayerKind.FC:
            return f"fc_no_bias {self.num_outputs}"
        return self.kind.value


def _block(n: int, stride: int) -> list[LayerSpec]:
    return [
        LayerSpec(LayerKind.CON, n, 3, stride),
        LayerSpec(LayerKind.AFFINE),
        LayerSpec(LayerKind.RELU),
        LayerSpec(LayerKind.CON, n, 3, 1),
        LayerSpec(LayerKind.AFFINE),
    ]


def _residual(n: int) -> list[LayerSpec]:
    # relu(x + block(x)): tag1 marks x, add_prev1 adds it back.
    return [
        LayerSpec(LayerKind.TAG, tag=1),
        *_block(n, 1),
        LayerSpec(LayerKind.ADD_PREV, tag=1),
        LayerSpec(LayerKind.RELU),
    ]


def _residual_down(n: int) -> list[LayerSpec]:
    # relu(avg_pool(x) + block_stride2(x)): the shortcut is pooled, not projected, so channels and
    # sizes may differ and dlib's add zero-fills the smaller operand at the end.
    return [
        LayerSpec(LayerKind.TAG, tag=1),
        *_block(n, 2),
        LayerSpec(LayerKind.TAG, tag=2),
        LayerSpec(LayerKind.SKIP, tag=1),
        LayerSpec(LayerKind.AVG_POOL, size=2, stride=2),
        LayerSpec(LayerKind.ADD_PREV, tag=2),
        LayerSpec(LayerKind.RELU),
    ]


RESNET_LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec(LayerKind.CON, 32, 7, 2),
    LayerSpec(LayerKind.AFFINE),
    LayerSpec(LayerKind.RELU),
    LayerSpec(LayerKind.MAX_POOL, size=3, stride=2),
    *(_residual(32) * 3),
    *_residual_down(64),
    *(_residual(64) * 3),
    *_residual_down(128),
    *(_residual(128) * 2),
    *_residual_down(256),
    *(_residual(256) * 2),
    *_residual_down(256),
    LayerSpec(LayerKind.AVG_POOL, size=0, stride=1),
    LayerSpec(LayerKind.FC, num_outputs=EMBEDDING_DIM),
)
"""dlib's ``anet_type`` from ``face_recognition.cpp``, input to output (loss layer excluded)."""


def pooled_size(size_px: int, window: int, stride: int, padding: int) -> int:
    """Output rows (or columns) of a dlib convolution or pooling: floor division, like cuDNN."""
    return 1 + (size_px + 2 * padding - window) // stride


@dataclass(frozen=True, slots=True, eq=False)
class ConvWeights:
    """One ``con_`` layer: filters (out, in, kh, kw) applied as cross-correlation, plus bias."""

    filters: FloatArray
    bias: FloatArray
    stride: int
    padding: int


@dataclass(frozen=True, slots=True, eq=False)
class AffineWeights:
    """One ``affine_`` layer (a frozen batch norm): ``y = x * gamma[c] + beta[c]``."""

    gamma: FloatArray
    beta: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class DlibResnetWeights:
    """Everything the file holds that changes the embedding, in forward order."""

    input_mean_rgb: tuple[float, float, float]
    input_size_px: int
    convs: tuple[ConvWeights, ...]
    affines: tuple[AffineWeights, ...]
    fc: FloatArray
    """(256, 128), input-major: ``descriptor = pooled @ fc``; the layer has no bias."""
    loss_margin: float
    distance_threshold: float
    """The Euclidean distance dlib trained for: same person below it (0.6)."""
    sha256: str

    @property
    def num_floats(self) -> int:
        """Trainable numbers in the file (5,614,592 for the published model)."""
        total = int(self.fc.size)
        total += sum(c.filters.size + c.bias.size for c in self.convs)
        total += sum(a.gamma.size + a.beta.size for a in self.affines)
        return total


# dlib writes these exponents for float values that are not finite.
_NONFINITE_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
_MAX_STRING_BYTES = 64
_MAX_TENSOR_FLOATS = 1 << 26


class _Stream:
    """A cursor over the file's bytes that decodes dlib's serialisation primitives."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source
        self.where = "file header"

    def fail(self, problem: str) -> ModelFileError:
        return ModelFileError(
            f"{self.source} is not dlib's face-recognition ResNet v1 weight file: {problem} "
            f"(in {self.where}, at byte {self.pos} of {len(self.data)})"
        )

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail(
                f"the file ends early (truncated?): {n} more bytes needed, "
                f"{len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        control = self.take(1)[0]
        n = control & 0x0F
        # Bits 4-6 are always zero in dlib's encoding; anything else is damage.
        if control & 0x70 or not 1 <= n <= 8:
            self.pos -= 1
            raise self.fail(f"byte 0x{control:02x} is not a valid integer header")
        value = int.from_bytes(self.take(n), "little")
        return -value if control & 0x80 else value

    def expect_integer(self, expected: int, what: str) -> None:
        start = self.pos
        found = self.integer()
        if found != expected:
            self.pos = start
            raise self.fail(f"expected {what} {expected}, found {found}")

    def boolean(self) -> bool:
        byte = self.take(1)
        if byte not in (b"0", b"1"):
            self.pos -= 1
            raise self.fail(f"byte {byte!r} is not a serialised bool")
        return byte == b"1"

    def string(self) -> str:
        start = self.pos
        length = self.integer()
        if not 0 <= length <= _MAX_STRING_BYTES:
            self.pos = start
            raise self.fail(f"implausible string length {length}")
        raw = self.take(length)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            self.pos = start
            raise self.fail(f"string {raw!r} is not ASCII") from exc

    def version(self, accepted: tuple[str, ...]) -> str:
        start = self.pos
        found = self.string()
        if found not in accepted:
            self.pos = start
            raise self.fail(f"expected record {' or '.join(map(repr, accepted))}, found {found!r}")
        return found

    def real(self) -> float:
        # dlib's portable float: integer mantissa, then integer exponent.
        mantissa = self.integer()
        exponent = self.integer()
        if exponent in _NONFINITE_EXPONENTS:
            return _NONFINITE_EXPONENTS[exponent]
        try:
            return math.ldexp(float(mantissa), exponent)
        except OverflowError as exc:
            raise self.fail(f"float {mantissa} x 2^{exponent} overflows") from exc

    def shape(self) -> tuple[int, int, int, int]:
        start = self.pos
        dims = (self.integer(), self.integer(), self.integer(), self.integer())
        if any(d < 0 for d in dims):
            self.pos = start
            raise self.fail(f"negative tensor dimension in {dims}")
        return dims

    def tensor(self) -> tuple[tuple[int, int, int, int], FloatArray]:
        self.expect_integer(2, "tensor format version")
        start = self.pos
        dims = self.shape()
        count = math.prod(dims)
        if count > _MAX_TENSOR_FLOATS:
            self.pos = start
            raise self.fail(f"implausible tensor shape {dims}")
        raw = self.take(4 * count)
        values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if not np.isfinite(values).all():
            self.pos = start
            raise self.fail(f"tensor of shape {dims} holds NaN or infinite values")
        return dims, values

    def alias(self) -> tuple[int, int, int, int]:
        self.expect_integer(1, "alias tensor format version")
        return self.shape()


def _check(stream: _Stream, ok: bool, problem: str) -> None:
    if not ok:
        raise stream.fail(problem)


def _read_con(stream: _Stream, spec: LayerSpec, channels_in: int) -> ConvWeights:
    version = stream.version(("con_4", "con_5"))
    _, params = stream.tensor()
    num_filters, nr, nc = stream.integer(), stream.integer(), stream.integer()
    stride_y, stride_x = stream.integer(), stream.integer()
    padding_y, padding_x = stream.integer(), stream.integer()
    filters_shape = stream.alias()
    bias_shape = stream.alias()
    for _ in range(4):  # learning-rate and weight-decay multipliers: training only
        stream.real()
    use_bias = stream.boolean() if version == "con_5" else True
    k = spec.size
    _check(
        stream, num_filters == spec.num_outputs, f"{num_filters} filters, not {spec.num_outputs}"
    )
    _check(stream, (nr, nc) == (k, k), f"{nr}x{nc} filters instead of {k}x{k}")
    _check(
        stream,
        (stride_y, stride_x) == (spec.stride, spec.stride),
        f"stride {stride_y}x{stride_x} instead of {spec.stride}",
    )
    _check(
        stream,
        (padding_y, padding_x) == (spec.padding, spec.padding),
        f"padding {padding_y}x{padding_x} instead of {spec.padding}",
    )
    expected_filters = (num_filters, channels_in, k, k)
    _check(
        stream,
        filters_shape == expected_filters,
        f"filter shape {filters_shape} instead of {expected_filters}",
    )
    n_weights = math.prod(expected_filters)
    n_bias = num_filters if use_bias else 0
    if use_bias:
        _check(
            stream,
            bias_shape == (1, num_filters, 1, 1),
            f"bias shape {bias_shape} instead of {(1, num_filters, 1, 1)}",
        )
    _check(
        stream,
        params.size == n_weights + n_bias,
        f"{params.size} parameters instead of {n_weights + n_bias}",
    )
    bias = params[n_weights:] if use_bias else np.zeros(num_filters, np.float32)
    weights = ConvWeights(
        filters=params[:n_weights].reshape(expected_filters),
        bias=bias,
        stride=spec.stride,
        padding=spec.padding,
    )
    return weights


def _read_affine(stream: _Stream, channels: int) -> AffineWeights:
    version = stream.version(("affine_", "affine_2"))
    _, params = stream.tensor()
    gamma_shape, beta_shape = stream.alias(), stream.alias()
    mode = stream.integer()
    disabled = stream.boolean() if version == "affine_2" else False
    # dlib's layer_mode: CONV_MODE = 0 (one gamma per channel), FC_MODE = 1 (one per element).
    _check(stream, mode == 0, f"affine mode {mode} instead of 0 (per channel)")
    if disabled:
        # A disabled affine was folded into the convolution below it: it is the identity.
        return AffineWeights(np.ones(channels, np.float32), np.zeros(channels, np.float32))
    expected = (1, channels, 1, 1)
    _check(
        stream,
        gamma_shape == expected and beta_shape == expected,
        f"affine shapes {gamma_shape}, {beta_shape} instead of {expected}",
    )
    _check(stream, params.size == 2 * channels, f"{params.size} affine values, not {2 * channels}")
    return AffineWeights(gamma=params[:channels], beta=params[channels:])


def _read_pool(stream: _Stream, spec: LayerSpec) -> None:
    name = "max_pool_2" if spec.kind is LayerKind.MAX_POOL else "avg_pool_2"
    stream.version((name,))
    nr, nc = stream.integer(), stream.integer()
    stride_y, stride_x = stream.integer(), stream.integer()
    padding_y, padding_x = stream.integer(), stream.integer()
    found = (nr, nc, stride_y, stride_x, padding_y, padding_x)
    expected = (spec.size, spec.size, spec.stride, spec.stride, spec.padding, spec.padding)
    _check(
        stream,
        found == expected,
        f"pool window/stride/padding {found} instead of {expected}",
    )


def _read_fc(stream: _Stream, spec: LayerSpec, num_inputs: int) -> FloatArray:
    version = stream.version(("fc_2", "fc_3"))
    num_outputs, stored_inputs = stream.integer(), stream.integer()
    _, params = stream.tensor()
    weights_shape = stream.alias()
    stream.alias()  # biases: unused, the layer is fc_no_bias
    bias_mode = stream.integer()
    for _ in range(4):
        stream.real()
    if version == "fc_3":
        stream.boolean()
    _check(
        stream, num_outputs == spec.num_outputs, f"{num_outputs} outputs, not {spec.num_outputs}"
    )
    _check(stream, stored_inputs == num_inputs, f"{stored_inputs} inputs, not {num_inputs}")
    # dlib's fc_bias_mode: FC_HAS_BIAS = 0, FC_NO_BIAS = 1.
    _check(stream, bias_mode == 1, f"fc bias mode {bias_mode}, expected 1 (no bias)")
    expected = (num_inputs, num_outputs, 1, 1)
    _check(stream, weights_shape == expected, f"fc shape {weights_shape} instead of {expected}")
    _check(stream, params.size == num_inputs * num_outputs, f"{params.size} fc weights")
    return params.reshape(num_inputs, num_outputs)


def _read_layer_state(stream: _Stream) -> None:
    # Three flags and three cached tensors (gradients, outputs) that inference does not use.
    for _ in range(3):
        stream.boolean()
    for _ in range(3):
        stream.tensor()


def parse_dlib_resnet(data: bytes, source: str = "<bytes>") -> DlibResnetWeights:
    """Decode and check the file's bytes; ``source`` names it in error messages."""
    stream = _Stream(data, source)

    stream.expect_integer(1, "loss layer version")
    stream.where = "loss layer"
    stream.version(("loss_metric_2",))
    loss_margin = stream.real()
    distance_threshold = stream.real()

    # The file opens with one wrapper version per layer, outermost (fc) first: 2 for a layer,
    # 1 for a tag or skip, 3 for the layer that sits on the input.
    layers = RESNET_LAYERS
    for i, spec in enumerate(reversed(layers)):
        index = len(layers) - 1 - i
        stream.where = f"wrapper of layer {index} ({spec.describe()})"
        expected = 3 if index == 0 else (1 if spec.is_wrapper_only else 2)
        stream.expect_integer(expected, "wrapper version")

    stream.where = "input layer"
    stream.version(("input_rgb_image_sized",))
    mean_rgb = (stream.real(), stream.real(), stream.real())
    _check(
        stream,
        all(0.0 <= m <= 255.0 for m in mean_rgb),
        f"input means {mean_rgb} are not pixel values",
    )
    stream.expect_integer(INPUT_SIZE_PX, "input rows")
    stream.expect_integer(INPUT_SIZE_PX, "input columns")

    convs: list[ConvWeights] = []
    affines: list[AffineWeights] = []
    fc: FloatArray | None = None
    # Shapes (channels, rows, cols) travel forward so every weight shape can be checked.
    shape = (3, INPUT_SIZE_PX, INPUT_SIZE_PX)
    tagged: dict[int, tuple[int, int, int]] = {}
    for index, spec in enumerate(layers):
        stream.where = f"layer {index} ({spec.describe()})"
        channels, rows, cols = shape
        if spec.kind is LayerKind.TAG:
            tagged[spec.tag] = shape
            continue
        if spec.kind is LayerKind.SKIP:
            shape = tagged[spec.tag]
            continue
        if spec.kind is LayerKind.CON:
            convs.append(_read_con(stream, spec, channels))
            size = (
                pooled_size(rows, spec.size, spec.stride, spec.padding),
                pooled_size(cols, spec.size, spec.stride, spec.padding),
            )
            shape = (spec.num_outputs, *size)
        elif spec.kind is LayerKind.AFFINE:
            affines.append(_read_affine(stream, channels))
        elif spec.kind is LayerKind.RELU:
            stream.version(("relu_",))
        elif spec.kind is LayerKind.ADD_PREV:
            stream.version(("add_prev_",))
            other = tagged[spec.tag]
            shape = (max(channels, other[0]), max(rows, other[1]), max(cols, other[2]))
        elif spec.kind in (LayerKind.MAX_POOL, LayerKind.AVG_POOL):
            _read_pool(stream, spec)
            if spec.size == 0:
                shape = (channels, 1, 1)
            else:
                shape = (
                    channels,
                    pooled_size(rows, spec.size, spec.stride, spec.padding),
                    pooled_size(cols, spec.size, spec.stride, spec.padding),
                )
        elif spec.kind is LayerKind.FC:
            fc = _read_fc(stream, spec, channels * rows * cols)
            shape = (spec.num_outputs, 1, 1)
        _read_layer_state(stream)
        if index == 0:
            stream.expect_integer(1, "sample expansion factor")

    stream.where = "end of file"
    if stream.pos != len(data):
        raise stream.fail(f"{len(data) - stream.pos} unexpected bytes after the last layer")
    if fc is None:  # unreachable with RESNET_LAYERS, kept so the type is narrowed honestly
        raise stream.fail("no fully connected layer")
    return DlibResnetWeights(
        input_mean_rgb=(float(mean_rgb[0]), float(mean_rgb[1]), float(mean_rgb[2])),
        input_size_px=INPUT_SIZE_PX,
        convs=tuple(convs),
        affines=tuple(affines),
        fc=fc,
        loss_margin=loss_margin,
        distance_threshold=distance_threshold,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def read_dlib_resnet(path: Path) -> DlibResnetWeights:
    """Read and check the weight file at ``path``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read the face-recognition weights {path}: {exc}") from exc
    return parse_dlib_resnet(data, str(path))


# ---------------------------------------------------------------------------------------------
# What both runtimes of this network (dlib's own and ONNX Runtime) promise their callers.

WEIGHTS_FILE = "dlib_face_recognition_resnet_model_v1.dat"
MODEL_ID = "dlib-resnet-v1"
MODEL_VERSION = "1"
PREPROCESSING = "dlib-chip150-pad0.25/v1"


def dlib_resnet_contract(weights_sha256: str) -> EmbeddingContract:
    """The one contract shared by ``DlibResnetEmbedder`` and ``OnnxResnetEmbedder``.

    Decision: the two runtimes share a contract, so a gallery enrolled with one can be searched
    with the other. This holds only because the parity test
    (tests/quality/test_dlib_resnet_parity.py) shows both give the same descriptors on real LFW
    faces (max per-component difference < 1e-5, measured ~4e-7) and change no same/different
    decision. Should that test ever fail, give the ONNX runtime its own ``model_id`` instead.
    """
    return EmbeddingContract(
        model_id=MODEL_ID,
        model_version=MODEL_VERSION,
        weights_sha256=weights_sha256,
        dim=EMBEDDING_DIM,
        preprocessing=PREPROCESSING,
    )


def check_chips(chips: object) -> npt.NDArray[np.uint8]:
    """The network's input: (n, 150, 150, 3) uint8 RGB chips cut by ``dlib.get_face_chip``."""
    if not isinstance(chips, np.ndarray) or chips.dtype != np.uint8:
        raise InvalidInputError("face chips must be a uint8 numpy array (n, 150, 150, 3), RGB")
    expected = (INPUT_SIZE_PX, INPUT_SIZE_PX, 3)
    if chips.ndim != 4 or chips.shape[1:] != expected:
        raise InvalidInputError(
            f"face chips must have shape (n, {INPUT_SIZE_PX}, {INPUT_SIZE_PX}, 3), "
            f"got {chips.shape}"
        )
    return np.ascontiguousarray(chips)


class ResnetWeightsFile:
    """What both ResNet embedders share: the weight file, its digest, contract and manifest.

    Subclasses set ``weights_path`` (None means the packaged file), ``_weights_sha256`` (a
    digest already checked, or None) and ``MANIFEST_KIND``.
    """

    MANIFEST_KIND = ""
    weights_path: Path | None
    _weights_sha256: str | None

    def _path(self) -> Path:
        return (
            self.weights_path if self.weights_path is not None else face_models_file(WEIGHTS_FILE)
        )

    def _digest(self) -> str:
        if self._weights_sha256 is not None:
            return self._weights_sha256
        path = self._path()
        try:
            return file_sha256(path)
        except OSError as exc:
            raise ModelFileError(f"cannot read the face-recognition weights {path}: {exc}") from exc

    @property
    def contract(self) -> EmbeddingContract:
        return dlib_resnet_contract(self._digest())

    @property
    def manifest(self) -> ModelManifest:
        return ModelManifest(
            kind=self.MANIFEST_KIND,
            input_size=(INPUT_SIZE_PX, INPUT_SIZE_PX),
            colour_order="RGB",
            weights_file=self._path().name,
            weights_sha256=self._digest(),
        )
