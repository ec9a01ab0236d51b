"""The one place that maps config ``kind`` values to backend classes.

Imports happen inside the factories so that choosing the mock backend never loads dlib or ONNX.
"""

from __future__ import annotations

from watchkeeper.config.settings import AlignerKind, DetectorKind, EmbedderKind, Settings
from watchkeeper.core.errors import ConfigError
from watchkeeper.models.base import Aligner, FaceDetector, FaceEmbedder


def make_detector(kind: DetectorKind, upsample: int = 1) -> FaceDetector:
    if kind is DetectorKind.HOG:
        from watchkeeper.models.dlib_detectors import DlibHogDetector

        return DlibHogDetector(upsample=upsample)
    if kind is DetectorKind.CNN:
        from watchkeeper.models.dlib_detectors import DlibCnnDetector

        return DlibCnnDetector(upsample=upsample)
    if kind is DetectorKind.MOCK:
        from watchkeeper.models.mock import MockDetector

        return MockDetector()
    raise ConfigError(f"unknown detector kind {kind!r}")


def make_aligner(
    detector_kind: DetectorKind, aligner_kind: AlignerKind = AlignerKind.FIVE_POINT
) -> Aligner:
    if detector_kind is DetectorKind.MOCK:
        from watchkeeper.models.mock import MockAligner

        return MockAligner()
    if aligner_kind is AlignerKind.SIXTY_EIGHT_POINT:
        from watchkeeper.models.dlib_detectors import DlibSixtyEightPointAligner

        return DlibSixtyEightPointAligner()
    from watchkeeper.models.dlib_detectors import DlibFivePointAligner

    return DlibFivePointAligner()


def make_embedder(settings: Settings) -> FaceEmbedder:
    kind = settings.recognition.embedder
    if kind is EmbedderKind.ONNX:
        from watchkeeper.models.dlib_onnx import OnnxResnetEmbedder

        return OnnxResnetEmbedder(
            cache_dir=settings.home / "cache" / "onnx",
            intra_op_num_threads=settings.recognition.threads,
        )
    if kind is EmbedderKind.DLIB:
        from watchkeeper.models.dlib_resnet import DlibResnetEmbedder

        return DlibResnetEmbedder()
    if kind is EmbedderKind.MOCK:
        from watchkeeper.models.mock import MockEmbedder

        return MockEmbedder()
    raise ConfigError(f"unknown embedder kind {kind!r}")
