"""The dlib ResNet weight reader: the real file parses, damaged or foreign files are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from watchkeeper.core.errors import ModelFileError
from watchkeeper.models.dlib_weights import (
    RESNET_LAYERS,
    WEIGHTS_FILE,
    LayerKind,
    parse_dlib_resnet,
    read_dlib_resnet,
)
from watchkeeper.models.weights import face_models_file, file_sha256

pytestmark = pytest.mark.models

# The first convolution's record: 32 filters, 7x7, stride 2x2, padding 0x0 (dlib integers).
FIRST_CONV_FIELDS = b"\x01\x20\x01\x07\x01\x07\x01\x02\x01\x02\x01\x00\x01\x00"


@pytest.fixture(scope="module")
def weights_bytes() -> bytes:
    return face_models_file(WEIGHTS_FILE).read_bytes()


def _refused(data: bytes, match: str) -> ModelFileError:
    with pytest.raises(ModelFileError, match=match) as caught:
        parse_dlib_resnet(data, "copy.dat")
    return caught.value


def test_reads_the_published_file() -> None:
    path = face_models_file(WEIGHTS_FILE)
    weights = read_dlib_resnet(path)
    kinds = [spec.kind for spec in RESNET_LAYERS]
    assert len(weights.convs) == kinds.count(LayerKind.CON) == 29
    assert len(weights.affines) == kinds.count(LayerKind.AFFINE) == 29
    assert kinds.count(LayerKind.ADD_PREV) == 14
    assert weights.fc.shape == (256, 128)
    assert weights.num_floats == 5_614_592
    assert weights.convs[0].filters.shape == (32, 3, 7, 7)
    assert weights.convs[-1].filters.shape == (256, 256, 3, 3)
    # Strided convolutions carry no padding, stride-1 3x3 ones pad by 1 (dlib's defaults).
    assert {(c.stride, c.padding) for c in weights.convs} == {(2, 0), (1, 1)}
    np.testing.assert_allclose(weights.input_mean_rgb, (122.782, 117.001, 104.298), atol=1e-3)
    assert weights.distance_threshold == pytest.approx(0.6)
    assert weights.sha256 == file_sha256(path)


def test_truncated_file_is_refused(weights_bytes: bytes) -> None:
    for cut in (len(weights_bytes) - 1, len(weights_bytes) // 2, 20):
        err = _refused(weights_bytes[:cut], "ends early")
        assert "copy.dat" in str(err)


def test_trailing_bytes_are_refused(weights_bytes: bytes) -> None:
    _refused(weights_bytes + b"\x00", "1 unexpected bytes after the last layer")


def test_altered_wrapper_version_is_refused(weights_bytes: bytes) -> None:
    # After the loss record come the wrapper versions, outermost first: fc is an ordinary
    # layer (2); claiming it is a tag (1) must be caught.
    start = weights_bytes.index(b"loss_metric_2") + len(b"loss_metric_2") + 12
    assert weights_bytes[start : start + 2] == b"\x01\x02"
    data = bytearray(weights_bytes)
    data[start + 1] = 0x01
    _refused(bytes(data), r"wrapper version 2, found 1.*layer \d+ \(fc_no_bias 128\)")


def test_damaged_integer_header_is_refused(weights_bytes: bytes) -> None:
    data = bytearray(weights_bytes)
    data[0] = 0x31
    _refused(bytes(data), "not a valid integer header")


def test_renamed_record_is_refused(weights_bytes: bytes) -> None:
    data = weights_bytes.replace(b"loss_metric_2", b"loss_metric_9", 1)
    _refused(data, "expected record 'loss_metric_2'")


def test_different_stride_is_refused(weights_bytes: bytes) -> None:
    # Same size and layer count, but the first convolution would have stride 1: a different net.
    assert weights_bytes.count(FIRST_CONV_FIELDS) == 1
    changed = FIRST_CONV_FIELDS.replace(b"\x01\x02\x01\x02", b"\x01\x01\x01\x01")
    data = weights_bytes.replace(FIRST_CONV_FIELDS, changed)
    _refused(data, r"stride 1x1 instead of 2.*layer 0 \(con 32 7x7/2\)")


def test_non_finite_weight_is_refused(weights_bytes: bytes) -> None:
    # The last fc weight sits just before the layer's trailing fields; make it NaN.
    data = bytearray(weights_bytes)
    tail = data.rindex(b"\x01\x01\x02\x00\x01\x01\x80\x01\x01\x01\x01")  # the fc weights alias
    data[tail - 4 : tail] = np.array([np.nan], "<f4").tobytes()
    _refused(bytes(data), "NaN or infinite")


@pytest.mark.parametrize(
    "other", ["shape_predictor_5_face_landmarks.dat", "mmod_human_face_detector.dat"]
)
def test_other_dlib_files_are_refused(other: str) -> None:
    with pytest.raises(ModelFileError, match="not dlib's face-recognition ResNet v1"):
        read_dlib_resnet(face_models_file(other))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot read"):
        read_dlib_resnet(tmp_path / "absent.dat")
