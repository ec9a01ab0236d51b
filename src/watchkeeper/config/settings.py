"""The one strict settings tree. Every field has a title and a description, so the docs, the
console's forms and the JSON schema all come from here."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.config.api import ApiSettings
from watchkeeper.config.governance import GovernanceSettings
from watchkeeper.config.paths import default_home
from watchkeeper.config.video import VideoSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectorKind(StrEnum):
    HOG = "dlib_hog"
    CNN = "dlib_cnn"
    MOCK = "mock"


class EmbedderKind(StrEnum):
    ONNX = "dlib_resnet_onnx"
    DLIB = "dlib_resnet"
    MOCK = "mock"


class AlignerKind(StrEnum):
    """Which landmark model places the points that the face chip is cut from."""

    FIVE_POINT = "dlib_5point"
    SIXTY_EIGHT_POINT = "dlib_68point"


class DetectionSettings(_Section):
    kind: DetectorKind = Field(
        DetectorKind.HOG,
        title="Face detector",
        description="dlib_hog is fast (tens of ms); dlib_cnn finds turned and blurred faces but "
        "takes about half a second per photo on a CPU.",
    )
    upsample: int = Field(
        1,
        ge=0,
        le=3,
        title="Upsampling",
        description="How many times the image is doubled before detection. 1 finds faces down "
        "to about 40 pixels; 0 is four times faster but misses faces under about 80 pixels.",
    )
    max_side_px: int = Field(
        1280,
        ge=160,
        le=8192,
        title="Largest side for detection",
        description="Images larger than this are scaled down for detection only; boxes are "
        "mapped back and faces are aligned on the full-resolution image.",
    )
    adaptive_upsample: bool = Field(
        True,
        title="Upsample only when needed",
        description="Scan at the image's own size first (four times faster) and rescan with "
        "upsampling only when that finds no face. Right for portraits and enrolment photos; "
        "turn it off for crowd scenes, where small faces sit beside large ones.",
    )
    cnn_fallback: bool = Field(
        False,
        title="CNN fallback",
        description="When the fast detector finds no face, try the CNN detector before giving up.",
    )


class QualitySettings(_Section):
    min_face_px: int = Field(
        40,
        ge=8,
        title="Smallest face",
        description="Faces whose box is shorter than this many pixels are rejected as too small.",
    )
    min_sharpness: float = Field(
        6.0,
        ge=0.0,
        title="Least sharpness",
        description="Variance of the Laplacian of the aligned face chip; below it a face is "
        "rejected as too blurred. 0 turns the check off. Measured here: LFW press photos have "
        "a median of 37 and 99% are above 9.6; a 270 px face blurred with a Gaussian of sigma "
        "6 px scores 3 to 4.",
    )
    edge_margin_px: int = Field(
        1,
        ge=0,
        title="Frame edge margin",
        description="A face box within this many pixels of the frame edge while the face's "
        "landmarks reach outside the frame is rejected as cut off.",
    )


class RecognitionSettings(_Section):
    embedder: EmbedderKind = Field(
        EmbedderKind.ONNX,
        title="Face embedder",
        description="dlib_resnet_onnx runs dlib's network on ONNX Runtime; dlib_resnet runs it in "
        "dlib itself (about 15 times slower, same vectors).",
    )
    threads: int = Field(
        1, ge=1, le=64, title="Embedder threads", description="ONNX Runtime intra-op threads."
    )
    parallel_analyses: int = Field(
        0,
        ge=0,
        le=64,
        title="Photos analysed at once",
        description="How many photos the engine analyses at the same time when several "
        "requests arrive together, each on its own copy of the models (about 170 MB each "
        "with 68-point alignment). 0 means one per CPU core.",
    )
    aligner: AlignerKind = Field(
        AlignerKind.SIXTY_EIGHT_POINT,
        title="Face alignment",
        description="Landmarks the chip is cut from. dlib_68point (about 1 ms more per face) "
        "cuts the chips the network was trained on: `bench lfw` 99.30% against 99.18% with "
        "dlib_5point, both with the mirror and shifts (the 68-point model adds about "
        "100 MB). Each has its own embedding contract, so templates made with one never mix "
        "with the other.",
    )
    mirror_augment: bool = Field(
        True,
        title="Mirrored template",
        description="Average each face's embedding with that of its mirrored chip.",
    )
    shift_augment_px: int = Field(
        4,
        ge=0,
        le=8,
        title="Shifted templates",
        description="Also average the embeddings of the chip moved this many pixels diagonally "
        "each way (0 turns it off). With the mirror, four embeddings per face: measured on LFW "
        "View 2 with 68-point alignment at 99.33% against 99.12% for one embedding and 99.18% "
        "for the mirror alone (5-point alignment: 99.25%, 98.90%, 99.08%).",
    )
    target_fmr: float = Field(
        1e-3,
        gt=0.0,
        lt=1.0,
        title="Target false-match rate",
        description="Decision thresholds are read from the calibration at this false-match rate.",
    )
    top_k: int = Field(5, ge=1, le=100, title="Candidates", description="Candidates per probe.")


class Settings(_Section):
    home: Path = Field(
        default_factory=default_home,
        title="Data directory",
        description="Where the gallery database, caches and exports live.",
    )
    detection: DetectionSettings = Field(default_factory=DetectionSettings, title="Detection")
    quality: QualitySettings = Field(default_factory=QualitySettings, title="Quality gates")
    recognition: RecognitionSettings = Field(
        default_factory=RecognitionSettings, title="Recognition"
    )
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings, title="Governance")
    api: ApiSettings = Field(default_factory=ApiSettings, title="HTTP service")
    video: VideoSettings = Field(default_factory=VideoSettings, title="Video")
    workers: int = Field(
        0,
        ge=0,
        le=64,
        title="Worker processes",
        description="Processes for batch work; 0 means one per CPU core.",
    )
