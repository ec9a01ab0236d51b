"""Small face crops (JPEG) kept with templates and review candidates, so a reviewer can look at
the probe face and the enrolled face side by side without the full photos being kept."""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt

CROP_SIDE_PX = 112
_MARGIN = 0.2


def face_crop_jpeg(image: npt.NDArray[np.uint8], xyxy: npt.NDArray[np.float32]) -> bytes:
    """The face box with a 20% margin, scaled to at most 112 pixels a side, as JPEG bytes."""
    from PIL import Image

    h, w = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    mx, my = (x1 - x0) * _MARGIN, (y1 - y0) * _MARGIN
    left, top = max(int(x0 - mx), 0), max(int(y0 - my), 0)
    right, bottom = min(int(x1 + mx) + 1, w), min(int(y1 + my) + 1, h)
    if right <= left or bottom <= top:
        left, top, right, bottom = 0, 0, w, h
    crop = Image.fromarray(np.ascontiguousarray(image[top:bottom, left:right]))
    crop.thumbnail((CROP_SIDE_PX, CROP_SIDE_PX))
    buf = io.BytesIO()
    crop.convert("RGB").save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def side_by_side_png(left: bytes | None, right: bytes | None) -> bytes:
    """Probe crop on the left, enrolled crop on the right (grey where one is missing)."""
    from PIL import Image

    side = CROP_SIDE_PX * 2
    sheet = Image.new("RGB", (side * 2 + 12, side), (40, 40, 40))
    for slot, data in enumerate((left, right)):
        if data is None:
            continue
        face = Image.open(io.BytesIO(data)).convert("RGB")
        face = face.resize((side, side * face.height // max(face.width, 1)))
        sheet.paste(face, (slot * (side + 12), 0))
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()
