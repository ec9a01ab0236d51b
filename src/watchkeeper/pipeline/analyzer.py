"""FaceAnalyzer: detect -> quality gate -> align -> embed, returning ``Faces``."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from watchkeeper.config.settings import DetectionSettings, QualitySettings
from watchkeeper.core import EmbeddingContract, Faces, FacesMeta, Frame, Image
from watchkeeper.models.base import Aligner, FaceDetector, FaceEmbedder, l2_normalise
from watchkeeper.pipeline.quality import gate

log = logging.getLogger(__name__)


def _downscale(image: Image, max_side_px: int) -> tuple[Image, float]:
    """The image scaled so its longer side is at most ``max_side_px``, and the factor used."""
    h, w = image.shape[:2]
    longest = max(h, w)
    if longest <= max_side_px:
        return image, 1.0
    import cv2

    scale = max_side_px / longest
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small), scale


class FaceAnalyzer:
    """Runs the whole face pipeline on one image at a time.

    Rejected faces keep their rows (with reasons) so callers can report them; their embedding
    rows are zero vectors, which never pass a similarity threshold.
    """

    def __init__(
        self,
        detector: FaceDetector,
        aligner: Aligner,
        embedder: FaceEmbedder,
        detection: DetectionSettings | None = None,
        quality: QualitySettings | None = None,
        fallback_detector: FaceDetector | None = None,
        first_pass_detector: FaceDetector | None = None,
        mirror_augment: bool = True,
        embed_rejected: bool = False,
        chip_shifts_px: tuple[tuple[int, int], ...] = (),
    ) -> None:
        self.detector = detector
        self.aligner = aligner
        self.embedder = embedder
        self.detection = detection or DetectionSettings()
        self.quality = quality or QualitySettings()
        self.fallback_detector = fallback_detector
        self.first_pass_detector = first_pass_detector
        self.mirror_augment = mirror_augment
        # Benchmarks embed every face to measure the model itself; live paths never do, so a
        # face that failed a gate cannot be matched by accident.
        self.embed_rejected = embed_rejected
        self.chip_shifts_px = chip_shifts_px

    @property
    def contract(self) -> EmbeddingContract:
        """The embedder's contract, marked when test-time augmentation changes the vectors."""
        base = self.embedder.contract
        marks = [self.aligner.preprocessing_mark] if self.aligner.preprocessing_mark else []
        marks += ["mirror-avg"] if self.mirror_augment else []
        marks += [f"shift{dx:+d}{dy:+d}" for dx, dy in self.chip_shifts_px]
        if not marks:
            return base
        return replace(base, preprocessing="+".join([base.preprocessing, *marks]))

    def startup(self) -> None:
        """Load every model now instead of on the first photo (parts without ``startup`` skip)."""
        parts: tuple[object, ...] = (
            self.first_pass_detector,
            self.detector,
            self.fallback_detector,
            self.aligner,
            self.embedder,
        )
        for part in parts:
            start = getattr(part, "startup", None)
            if callable(start):
                start()

    def locate(self, image: Image) -> Faces:
        """Boxes and scores only, on a downscaled copy for large images, mapped back."""
        small, scale = _downscale(image, self.detection.max_side_px)
        faces = Faces.empty()
        if self.first_pass_detector is not None:
            faces = self.first_pass_detector.detect(small)
        if len(faces) == 0:
            faces = self.detector.detect(small)
        if len(faces) == 0 and self.fallback_detector is not None:
            faces = self.fallback_detector.detect(small)
        if scale != 1.0 and len(faces):
            h, w = image.shape[:2]
            boxes = faces.xyxy / scale
            boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
            boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
            faces = faces.with_columns(xyxy=boxes)
        return faces

    def analyze(self, frame: Frame | Image, with_embeddings: bool = True) -> Faces:
        """Every face in the image, gated, aligned and (optionally) embedded."""
        image = frame.image if isinstance(frame, Frame) else frame
        h, w = image.shape[:2]
        meta = FacesMeta(
            source_id=frame.source_id if isinstance(frame, Frame) else "",
            frame_index=frame.index if isinstance(frame, Frame) else 0,
            contract_id=self.contract.contract_id if with_embeddings else None,
            resolution_wh=(w, h),
        )
        faces = self.locate(image).with_columns(meta=meta)
        return self.describe(image, faces, with_embeddings)

    def describe(self, image: Image, boxes: Faces, with_embeddings: bool = True) -> Faces:
        """Landmarks, quality verdicts and (optionally) templates for faces already located.

        The one path from boxes to templates, so every caller (photos, video tracks, footage)
        produces vectors exactly as this analyzer's contract says.
        """
        if len(boxes) == 0:
            return boxes
        h, w = image.shape[:2]
        faces = self.aligner.landmarks(image, boxes)
        chips = self.aligner.chips(image, faces)
        faces = gate(faces, chips, (w, h), self.quality)
        if not with_embeddings:
            return faces
        mask = faces.accepted if not self.embed_rejected else np.ones(len(faces), bool)
        rows = np.flatnonzero(mask)
        shifted = None
        if self.chip_shifts_px and len(rows):
            shifted = self.aligner.shifted_chips(image, faces[rows], self.chip_shifts_px)
        return faces.with_columns(embedding=self.embed_chips(chips, mask, shifted))

    def embed_chips(
        self,
        chips: np.ndarray,
        mask: np.ndarray | None = None,
        shifted: np.ndarray | None = None,
    ) -> np.ndarray:
        """One template per chip where ``mask`` is true (zero rows elsewhere).

        Deterministic test-time augmentation: the mirrored chip and slightly shifted chips
        (``shifted``: (k, rows, S, S, 3) for the masked rows) show the same face, so averaging
        their embeddings cancels some pose, lighting and alignment noise.
        """
        n = len(chips)
        out = np.zeros((n, self.contract.dim), np.float32)
        rows = np.flatnonzero(mask) if mask is not None else np.arange(n)
        if len(rows) == 0:
            return out
        selected = chips[rows]
        variants = [selected]
        if self.mirror_augment:
            variants.append(selected[:, :, ::-1])
        if shifted is not None:
            variants.extend(shifted)
        vectors = self.embedder.embed(np.ascontiguousarray(np.concatenate(variants)))
        summed = vectors.reshape(len(variants), len(rows), -1).sum(axis=0)
        out[rows] = l2_normalise(np.asarray(summed, dtype=np.float32))
        return out
