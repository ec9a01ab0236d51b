"""Builds a FaceAnalyzer from the settings tree."""

from __future__ import annotations

from watchkeeper.config.settings import DetectorKind, Settings
from watchkeeper.models.registry import make_aligner, make_detector, make_embedder
from watchkeeper.pipeline.analyzer import FaceAnalyzer


def shifts_of(shift_px: int) -> tuple[tuple[int, int], ...]:
    """The chip shifts for the configured amount: one step down-right and one up-left."""
    return ((shift_px, shift_px), (-shift_px, -shift_px)) if shift_px else ()


def build_analyzer(settings: Settings, embed_rejected: bool = False) -> FaceAnalyzer:
    """The configured detector, aligner and embedder; nothing loads until first use."""
    det = settings.detection
    fallback = None
    if det.cnn_fallback and det.kind is DetectorKind.HOG:
        fallback = make_detector(DetectorKind.CNN, upsample=1)
    first_pass = None
    if det.adaptive_upsample and det.kind is DetectorKind.HOG and det.upsample > 0:
        first_pass = make_detector(DetectorKind.HOG, upsample=0)
    return FaceAnalyzer(
        detector=make_detector(det.kind, det.upsample),
        aligner=make_aligner(det.kind, settings.recognition.aligner),
        embedder=make_embedder(settings),
        detection=det,
        quality=settings.quality,
        fallback_detector=fallback,
        first_pass_detector=first_pass,
        mirror_augment=settings.recognition.mirror_augment,
        embed_rejected=embed_rejected,
        chip_shifts_px=shifts_of(settings.recognition.shift_augment_px),
    )
