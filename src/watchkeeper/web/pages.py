"""Rendering console pages, and the detection overlay (boxes drawn over the uploaded image)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from watchkeeper.core import Faces, QualityIssue

STATIC_DIR = Path(__file__).parent / "static"

REASON_TEXT: Mapping[QualityIssue, str] = {
    QualityIssue.TOO_SMALL: "too small",
    QualityIssue.TOO_BLURRED: "too blurred",
    QualityIssue.CUT_OFF: "cut off by the frame edge",
}


class Pages:
    """Renders the console's templates with autoescaping on (user text is never trusted)."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("watchkeeper.web", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, template: str, context: Mapping[str, object]) -> str:
        return self._env.get_template(template).render(**context)


@dataclass(frozen=True, slots=True)
class FaceBox:
    """One face drawn on the overlay, in the original image's pixel coordinates."""

    number: int
    x: float
    y: float
    width: float
    height: float
    accepted: bool
    score: float
    sharpness: float | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Overlay:
    """The uploaded image (as a downscaled JPEG data URI) and the boxes to draw over it."""

    image_uri: str
    width_px: int
    height_px: int
    boxes: tuple[FaceBox, ...]

    @property
    def accepted(self) -> int:
        return sum(1 for box in self.boxes if box.accepted)

    @property
    def stroke_px(self) -> float:
        """Line width that looks the same whatever the image size."""
        return max(2.0, max(self.width_px, self.height_px) / 300.0)


def _preview_uri(image: npt.NDArray[np.uint8], max_side_px: int) -> str:
    from PIL import Image

    picture = Image.fromarray(image)
    picture.thumbnail((max_side_px, max_side_px))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def overlay_for(image: npt.NDArray[np.uint8], faces: Faces, max_side_px: int = 1024) -> Overlay:
    """The overlay for ``faces`` found in ``image`` (H, W, 3 RGB)."""
    h, w = image.shape[:2]
    boxes = []
    for i in range(len(faces)):
        x0, y0, x1, y1 = (float(v) for v in faces.xyxy[i])
        boxes.append(
            FaceBox(
                number=i + 1,
                x=x0,
                y=y0,
                width=max(x1 - x0, 1.0),
                height=max(y1 - y0, 1.0),
                accepted=not faces.rejected[i],
                score=round(float(faces.detector_score[i]), 2),
                sharpness=None if faces.quality is None else round(float(faces.quality[i]), 1),
                reasons=tuple(REASON_TEXT.get(r, r.value) for r in faces.rejected[i]),
            )
        )
    return Overlay(_preview_uri(image, max_side_px), w, h, tuple(boxes))
